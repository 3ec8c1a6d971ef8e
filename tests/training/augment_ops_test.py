"""Each official-recipe op against Pillow / numpy, on TensorFlow and JAX.

The references live in `augment_reference.py`; here they run in this
process (the default backend) and once in a `KERAS_BACKEND=jax`
subprocess.
"""

import os

import pytest

from tests.helpers import TestCase
from tests.helpers import run_on_jax
from tests.training import augment_reference as reference

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _assert_errors(test, errors):
    for name, error in errors["pixel"].items():
        test.assertEqual(error, 0.0, msg=f"pixel op {name}")
    for name, (interior, fill) in errors["geometric"].items():
        test.assertLessEqual(interior, 1.0, msg=f"geometric op {name}")
        test.assertEqual(fill, 0.0, msg=f"fill region of {name}")
    test.assertLessEqual(errors["crop_flip"], 1.0)
    test.assertLess(errors["erasing"], 1e-3)
    test.assertLess(errors["cutmix"], 1e-5)
    test.assertGreater(errors["cutmix_seen"], 5)


class OpsAgainstReferenceTest(TestCase):
    def test_pixel_ops_match_pillow_exactly(self):
        errors = reference.check_pixel_ops()
        self.assertEqual(len(errors), len(reference.PIXEL_CASES))
        for name, error in errors.items():
            self.assertEqual(error, 0.0, msg=name)

    def test_geometric_ops_match_pillow(self):
        for name, (interior, fill) in reference.check_geometric_ops().items():
            self.assertLessEqual(interior, 1.0, msg=name)
            self.assertEqual(fill, 0.0, msg=name)

    def test_crop_and_flip_match_torchvision_pil(self):
        self.assertLessEqual(reference.check_crop_flip(), 1.0)

    def test_erasing_matches_numpy(self):
        self.assertLess(reference.check_erasing(), 1e-3)

    def test_cutmix_matches_timm_rand_bbox(self):
        error, seen = reference.check_cutmix()
        self.assertLess(error, 1e-5)
        self.assertGreater(seen, 5)


@pytest.mark.skipif(
    os.environ.get("KERAS_BACKEND", "tensorflow") == "jax",
    reason="this process already runs JAX",
)
class OpsOnJaxTest(TestCase):
    @pytest.mark.slow
    def test_every_op_on_jax(self):
        code = (
            "import json; from tests.training import augment_reference "
            "as r; print('RESULT', json.dumps(r.all_errors()))"
        )
        _assert_errors(self, run_on_jax(self, code))


class OrderTest(TestCase):
    def test_erasing_follows_mixing_as_in_the_official_loader(self):
        import numpy as np
        from keras import ops

        from keras_snp.training.augment import official

        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (2, 6, 8, 3)).astype("uint8")
        labels = np.eye(2, dtype="float32")
        boxes = {
            "top": np.array([1.0, 0.0], "float32"),
            "left": np.array([2.0, 0.0], "float32"),
            "height": np.array([3.0, 0.0], "float32"),
            "width": np.array([4.0, 0.0], "float32"),
            "erase": np.array([True, False]),
        }
        noise = rng.normal(size=(1, 12, 3)).astype("float32")
        zero = np.float32(0.0)
        params = {
            "cutmix": np.array(False),
            "lam": np.float32(0.5),
            **{k: zero for k in ("top", "bottom", "left", "right")},
        }
        mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
        x, y = official.mix_and_erase(
            images, labels, boxes, noise, params, (mean, std, 0.0)
        )
        x = ops.convert_to_numpy(x)
        mixed = np.round(0.5 * images + 0.5 * images[::-1].astype("float32"))
        expected = mixed.copy()
        box = noise[0].reshape(3, 4, 3)
        expected[0, 1:4, 2:6] = 255 * np.array(mean) + 255 * np.array(std) * box
        # The box holds the noise alone: it was erased after the mix.
        np.testing.assert_allclose(x, expected, atol=1e-3)
        np.testing.assert_allclose(ops.convert_to_numpy(y), 0.5)
