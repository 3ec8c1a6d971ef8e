"""Sampled parameters of the official recipe over >= 10,000 draws."""

import numpy as np
from keras import ops

from keras_snp.training.augment import erasing
from keras_snp.training.augment import geometry
from keras_snp.training.augment import mixing
from keras_snp.training.augment import rand_augment
from tests.helpers import TestCase

N = 20000


def _np(tree):
    return {k: np.asarray(ops.convert_to_numpy(v)) for k, v in tree.items()}


def _timm_argument(name, magnitude, sign):
    # timm's level_to_arg functions, in Python floats.
    level = magnitude / 10.0
    if name == "Rotate":
        return sign * level * 30.0
    if name in ("ShearX", "ShearY"):
        return sign * level * 0.3
    if name in ("TranslateXRel", "TranslateYRel"):
        return sign * level * 0.45
    if name == "PosterizeIncreasing":
        return 4 - int(level * 4)
    if name == "SolarizeIncreasing":
        return 256 - min(256, int(level * 256))
    if name == "SolarizeAdd":
        return min(128, int(level * 110))
    if name.endswith("Increasing"):
        return max(0.1, 1.0 + sign * level * 0.9)
    return 0.0


class PolicySamplingTest(TestCase):
    def test_policy_statistics(self):
        p = _np(rand_augment.sample_policy(N // 2, seed=3))
        self.assertEqual(p["op"].shape, (N // 2, 2))
        counts = np.bincount(p["op"].ravel(), minlength=15)
        self.assertEqual(len(counts), 15)
        expected = N / 15
        # 5 sigma of a binomial count.
        self.assertLess(np.abs(counts - expected).max(), 5 * np.sqrt(expected))
        self.assertAllClose(p["apply"].mean(), 0.5, atol=0.02)
        self.assertAllClose((p["sign"] > 0).mean(), 0.5, atol=0.02)
        m = p["magnitude"]
        self.assertGreaterEqual(m.min(), 0.0)
        self.assertLessEqual(m.max(), 10.0)
        ref = np.clip(np.random.default_rng(0).normal(9, 0.5, 10**6), 0, 10)
        self.assertAllClose(m.mean(), ref.mean(), atol=0.015)
        self.assertAllClose(m.std(), ref.std(), atol=0.015)
        self.assertAllClose(
            (m == 10.0).mean(), (ref == 10.0).mean(), atol=0.006
        )

    def test_images_get_different_ops(self):
        p = _np(rand_augment.sample_policy(64, seed=0))
        self.assertGreater(len(np.unique(p["op"][:, 0])), 10)
        self.assertGreater(len(np.unique(p["magnitude"][:, 0])), 60)

    def test_arguments_match_timm_level_maps(self):
        magnitudes = np.array([0.0, 2.5, 7.3, 9.0, 9.96, 10.0], "float32")
        for op, name in enumerate(rand_augment.OP_NAMES):
            for sign in (1.0, -1.0):
                got = ops.convert_to_numpy(
                    rand_augment.op_arguments(
                        np.full(6, op, "int32"),
                        magnitudes,
                        np.full(6, sign, "float32"),
                    )
                )
                want = [
                    _timm_argument(name, float(m), sign) for m in magnitudes
                ]
                self.assertAllClose(got, want, atol=1e-5, msg=name)


class CropSamplingTest(TestCase):
    def test_crop_statistics(self):
        c = _np(geometry.sample_crop(N, 32, 32, seed=1))
        area = c["height"] * c["width"] / 1024.0
        self.assertGreaterEqual(area.min(), 0.74)  # rounding of the sides
        self.assertLessEqual(area.max(), 1.0)
        aspect = c["width"] / c["height"]
        self.assertGreaterEqual(aspect.min(), 0.7)
        self.assertLessEqual(aspect.max(), 1.43)
        self.assertTrue((c["top"] + c["height"] <= 32).all())
        self.assertTrue((c["left"] + c["width"] <= 32).all())
        self.assertTrue((c["top"] >= 0).all() and (c["left"] >= 0).all())
        self.assertAllClose(c["flip"].mean(), 0.5, atol=0.02)


class ErasingSamplingTest(TestCase):
    def test_erasing_statistics(self):
        b = _np(erasing.sample_erasing(N, 32, 32, seed=2))
        self.assertAllClose(b["erase"].mean(), 0.25, atol=0.015)
        e = b["erase"]
        area = b["height"][e] * b["width"][e] / 1024.0
        self.assertGreaterEqual(area.min(), 0.015)
        self.assertLessEqual(area.max(), 0.36)
        self.assertTrue((b["height"][e] < 32).all())
        self.assertTrue((b["top"] + b["height"] <= 32)[e].all())
        log_aspect = np.log(b["height"][e] / b["width"][e])
        self.assertAllClose(np.median(log_aspect), 0.0, atol=0.1)


class MixingSamplingTest(TestCase):
    def test_switch_lambda_and_label_mass(self):
        cut, lam_mix = [], []
        labels = np.eye(7, dtype="float32")[np.arange(6) % 7]
        smoothed = mixing.smooth_labels(labels, 0.1)
        images = np.zeros((6, 4, 4, 3), "float32")
        for seed in range(400):
            p = _np(mixing.sample_mixing(4, 4, seed))
            cut.append(bool(p["cutmix"]))
            if not p["cutmix"]:
                lam_mix.append(float(p["lam"]))
            if seed < 20:
                _, y = mixing.apply_mixing(images, smoothed, p)
                self.assertAllClose(ops.sum(y, axis=-1), np.ones(6), atol=1e-6)
        self.assertAllClose(np.mean(cut), 0.5, atol=0.08)
        self.assertAllClose(np.mean(lam_mix), 0.5, atol=0.06)

    def test_beta_draws(self):
        draws = np.array(
            [
                float(ops.convert_to_numpy(mixing.sample_beta(0.8, seed=s)))
                for s in range(300)
            ]
        )
        # Beta(0.8, 0.8): mean 0.5, variance 1 / (4 * 2.6) = 0.096.
        self.assertAllClose(draws.mean(), 0.5, atol=0.05)
        self.assertAllClose(draws.var(), 0.0962, atol=0.02)

    def test_smoothing_applied_once(self):
        y = ops.convert_to_numpy(mixing.smooth_labels(np.eye(10)[:2], 0.1))
        self.assertAllClose(y.max(axis=1), [0.91, 0.91])
        self.assertAllClose(y.min(axis=1), [0.01, 0.01])
