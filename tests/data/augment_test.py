import textwrap

import numpy as np
import pytest

from keras_snp import data
from keras_snp.data import augment
from tests.helpers import run_python


def _is_shift_of(out, image, pad):
    """Slow reference: `out` is `image` shifted by <= pad px, maybe flipped."""
    size = image.shape[0]
    padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)))
    for dy in range(2 * pad + 1):
        for dx in range(2 * pad + 1):
            crop = padded[dy : dy + size, dx : dx + size]
            if np.array_equal(out, crop) or np.array_equal(out, crop[:, ::-1]):
                return True
    return False


def _images(n=6, size=16):
    rng = np.random.default_rng(0)
    return rng.integers(1, 256, (n, size, size, 3)).astype("float32")


def test_shift_scales_with_image_size():
    assert [augment.shift_pixels(s) for s in (32, 16, 224, 2)] == [4, 2, 28, 1]


def test_light_numpy_is_shift_and_flip():
    images = _images()
    out = augment.light_numpy(images, np.random.default_rng(1))
    assert out.shape == images.shape
    assert all(_is_shift_of(o, i, 2) for o, i in zip(out, images))
    assert not np.array_equal(out, images)


def test_light_tf_is_shift_and_flip():
    tf = pytest.importorskip("tensorflow")
    images = _images()
    outs = [
        augment.light_tf(
            tf.constant(im), tf.constant([i, 5], "int64"), 16
        ).numpy()
        for i, im in enumerate(images)
    ]
    assert all(_is_shift_of(o, i, 2) for o, i in zip(outs, images))
    assert any(not np.array_equal(o, i) for o, i in zip(outs, images))


@pytest.mark.parametrize("backend_format", ["numpy", "tf"])
def test_official_recipe_leaves_augmentation_to_the_device(backend_format):
    splits = data.load(
        "synthetic",
        16,
        8,
        examples_per_class=4,
        recipe="official",
        backend_format=backend_format,
    )
    for images, labels in data.as_numpy(splits.train, max_batches=3):
        assert images.shape == (8, 16, 16, 3) and labels.shape == (8, 10)
        assert images.dtype == np.uint8
        assert set(np.unique(labels)) <= {0.0, 1.0}
    # evaluation splits stay float32, hard and unaugmented
    images, labels = next(data.as_numpy(splits.test))
    assert images.dtype == np.float32
    assert set(np.unique(labels)) <= {0.0, 1.0}


def test_jax_without_tensorflow(tmp_path):
    """`synthetic` and `.npz` give numpy splits when TF cannot be imported."""
    path = tmp_path / "set.npz"
    x = np.zeros((6, 8, 8, 3), "uint8")
    np.savez(
        path,
        x_train=x,
        y_train=np.arange(6) % 2,
        x_test=x,
        y_test=np.arange(6) % 2,
    )
    code = textwrap.dedent(f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("tensorflow", "tensorflow_datasets"):
                    raise ImportError(name)
        sys.meta_path.insert(0, Block())
        from keras_snp import data
        for source in ("synthetic", {str(path)!r}):
            s = data.load(source, 8, 4, examples_per_class=3)
            x, y = next(iter(s.train))
            assert type(s.train).__name__ == "NumpySplit", type(s.train)
            assert x.shape == (4, 8, 8, 3) and abs(y.sum() - 4) < 1e-6
        assert "tensorflow" not in sys.modules
        print("ok")
    """)
    pytest.importorskip("jax")
    result = run_python(code, JAX_PLATFORMS="cpu")
    assert result.stdout.strip().endswith("ok")


def test_tiny_cct_learns_synthetic():
    import keras

    from tests.helpers import tiny_cct

    keras.utils.set_random_seed(0)
    splits = data.load("synthetic", 16, 32, examples_per_class=60, seed=0)
    model = tiny_cct(num_classes=10, image_size=16, stochastic_depth=0.0)
    model.compile(
        keras.optimizers.AdamW(3e-3),
        keras.losses.CategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(splits.train, epochs=2, verbose=0)
    _, accuracy = model.evaluate(splits.test, verbose=0)
    assert accuracy > 0.5  # chance is 0.1
