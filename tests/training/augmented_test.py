"""`OfficialAugment` and `AugmentedModel`: seeds, per-image ops, and a
compiled `fit` on TensorFlow (in process) and JAX (subprocess)."""

import os

import keras
import numpy as np
import pytest

from keras_snp.training.augment import OfficialAugment
from keras_snp.training.augmented import AugmentedModel
from tests.helpers import TestCase
from tests.helpers import run_on_jax
from tests.helpers import tiny_cct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
MEAN, STD = (0.5, 0.45, 0.4), (0.25, 0.25, 0.25)


def _batch(n=16, size=16, classes=5):
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size]
    base = np.stack([xx * 9, yy * 8, (xx + yy) * 4 + 30], -1)
    images = np.clip(
        base[None] + rng.integers(-30, 31, (n, size, size, 3)), 0, 255
    ).astype("uint8")
    labels = rng.integers(0, classes, n)
    return images, np.eye(classes, dtype="float32")[labels]


def fit_report(epochs=2):
    """Trains a tiny CCT through `AugmentedModel`; JSON-friendly facts."""
    keras.utils.set_random_seed(0)
    images, labels = _batch(32)
    backbone = tiny_cct()
    augment = OfficialAugment(num_classes=5, mean=MEAN, std=STD, seed=1)
    model = AugmentedModel(backbone, augment)
    model.compile(
        keras.optimizers.AdamW(1e-3),
        keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    before = [np.array(w) for w in backbone.get_weights()]
    state0 = np.array(augment.seed_generator.state.value)
    history = model.fit(
        {"images": images, "labels": labels},
        labels,
        batch_size=8,
        epochs=epochs,
        verbose=0,
    )
    state1 = np.array(augment.seed_generator.state.value)
    changed = sum(
        not np.allclose(a, b) for a, b in zip(before, backbone.get_weights())
    )
    wrapped = model.predict(images, verbose=0)
    bare = backbone.predict(images.astype("float32"), verbose=0)
    return {
        "backend": keras.backend.backend(),
        "losses": [float(v) for v in history.history["loss"]],
        "changed": int(changed),
        "weights": len(before),
        "state_steps": int(state1[1] - state0[1]),
        "predict_diff": float(np.abs(wrapped - bare).max()),
    }


class OfficialAugmentTest(TestCase):
    def test_seeded_runs_are_identical(self):
        images, labels = _batch()

        def run(seed):
            layer = OfficialAugment(
                num_classes=5, mean=MEAN, std=STD, seed=seed
            )
            return [
                keras.ops.convert_to_numpy(t)
                for t in layer(images, labels, training=True)
            ]

        first, again, other = run(7), run(7), run(8)
        self.assertAllClose(first[0], again[0])
        self.assertAllClose(first[1], again[1])
        self.assertGreater(np.abs(first[0] - other[0]).max(), 10.0)

    def test_images_in_a_batch_differ_and_labels_sum_to_one(self):
        same = np.repeat(_batch(1)[0], 16, axis=0)
        labels = np.eye(5, dtype="float32")[np.arange(16) % 5]
        layer = OfficialAugment(num_classes=5, mean=MEAN, std=STD, seed=3)
        x, y = (
            keras.ops.convert_to_numpy(t)
            for t in layer(same, labels, training=True)
        )
        pairs = [
            np.abs(x[i] - x[j]).max() for i in range(8) for j in range(i + 1, 8)
        ]
        self.assertGreater(min(pairs), 0.0)
        self.assertAllClose(y.sum(axis=1), np.ones(16), atol=1e-5)
        self.assertLessEqual(y.max(), 0.92)  # smoothed by 0.1 (K = 5)

    def test_state_advances_and_inference_passes_through(self):
        images, labels = _batch(4)
        layer = OfficialAugment(num_classes=5, mean=MEAN, std=STD, seed=0)
        a = keras.ops.convert_to_numpy(layer(images, labels, training=True)[0])
        b = keras.ops.convert_to_numpy(layer(images, labels, training=True)[0])
        self.assertGreater(np.abs(a - b).max(), 0.0)
        x, y = layer(images, np.argmax(labels, -1), training=False)
        self.assertAllClose(x, images.astype("float32"))
        self.assertAllClose(y, labels)

    def test_config_round_trip_and_errors(self):
        layer = OfficialAugment(
            num_classes=5, mean=MEAN, std=STD, seed=4, erase_prob=0.5
        )
        clone = OfficialAugment.from_config(layer.get_config())
        self.assertEqual(clone.get_config(), layer.get_config())
        self.assertEqual(clone.fill, (128.0, 115.0, 102.0))
        with self.assertRaisesRegex(ValueError, "num_classes"):
            OfficialAugment(num_classes=1, mean=MEAN, std=STD)
        with self.assertRaisesRegex(ValueError, "erase_prob"):
            OfficialAugment(num_classes=5, mean=MEAN, std=STD, erase_prob=2.0)


class AugmentedModelTest(TestCase):
    def test_fit_in_compiled_step(self):
        report = fit_report()
        self.assertTrue(np.isfinite(report["losses"]).all())
        self.assertEqual(report["changed"], report["weights"])
        # Four steps per epoch, two epochs: the seed state moved each step.
        self.assertGreater(report["state_steps"], 0)
        self.assertEqual(report["state_steps"] % 8, 0)
        self.assertLess(report["predict_diff"], 1e-5)

    def test_backbone_saves_alone(self):
        backbone = tiny_cct()
        model = AugmentedModel(
            backbone, OfficialAugment(num_classes=5, mean=MEAN, std=STD, seed=0)
        )
        path = os.path.join(self.get_temp_dir(), "backbone.keras")
        model.backbone.save(path)
        loaded = keras.models.load_model(path)
        self.assertEqual(type(loaded), type(backbone))
        self.assertEqual(loaded.count_params(), backbone.count_params())

    def test_rejects_non_model_backbone(self):
        with self.assertRaisesRegex(ValueError, "backbone"):
            AugmentedModel(
                keras.layers.Dense(2),
                OfficialAugment(num_classes=5, mean=MEAN, std=STD),
            )


@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") == "jax",
    reason="this process already runs JAX",
)
class AugmentedModelOnJaxTest(TestCase):
    @pytest.mark.slow
    def test_fit_on_jax(self):
        code = (
            "import json; from tests.training import augmented_test as t;"
            " print('RESULT', json.dumps(t.fit_report()))"
        )
        report = run_on_jax(self, code)
        self.assertEqual(report["backend"], "jax")
        self.assertTrue(np.isfinite(report["losses"]).all())
        self.assertEqual(report["changed"], report["weights"])
        self.assertGreater(report["state_steps"], 0)
        self.assertEqual(report["state_steps"] % 8, 0)
        self.assertLess(report["predict_diff"], 1e-5)
