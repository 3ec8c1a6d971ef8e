"""The official recipe's crop from the whole image (`keras_snp.data.whole`)
against torchvision's `RandomResizedCrop.get_params`, written out."""

import math

import numpy as np
import pytest
from PIL import Image

from keras_snp import data
from keras_snp.data import whole

tf = pytest.importorskip("tensorflow")


def get_params(height, width, draws, scale=(0.8, 1.0), ratio=(3 / 4, 4 / 3)):
    """torchvision's `RandomResizedCrop.get_params`, its uniform draws
    given: `draws[k] = (area, log-aspect, top, left)` of attempt k."""
    area = height * width
    for u_area, u_ratio, u_top, u_left in draws:
        target = area * (scale[0] + (scale[1] - scale[0]) * u_area)
        low, high = math.log(ratio[0]), math.log(ratio[1])
        aspect = math.exp(low + (high - low) * u_ratio)
        w = round(math.sqrt(target * aspect))
        h = round(math.sqrt(target / aspect))
        if 0 < w <= width and 0 < h <= height:
            top = math.floor(u_top * (height - h + 1))
            left = math.floor(u_left * (width - w + 1))
            return top, left, h, w
    in_ratio = width / height
    if in_ratio < min(ratio):
        w, h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        h, w = height, round(height * max(ratio))
    else:
        w, h = width, height
    return (height - h) // 2, (width - w) // 2, h, w


@pytest.mark.parametrize(
    "size", [(375, 500), (500, 375), (32, 32), (10, 100), (100, 12)]
)
def test_crop_box_matches_get_params(size):
    for draw in range(40):
        seed = tf.constant([draw, 3], "int64")
        draws = tf.random.stateless_uniform((10, 4), seed).numpy()
        box = whole.crop_box_tf(tf.constant(size, "int32"), seed).numpy()
        expected = get_params(*size, draws.astype("float64"))
        assert tuple(box) == expected, (size, draw)


def test_a_crop_stays_inside_the_image_and_sees_most_of_it():
    photo = Image.new("RGB", (500, 375), (200, 120, 40))
    canvas, (height, width) = whole.fit_canvas_pil(photo, 32)
    assert canvas.shape == (43, 43, 3) and (height, width) == (32, 43)
    assert not canvas[height:].any() and not canvas[:, width:].any()
    seen = []
    for draw in range(60):
        seed = tf.constant([draw, 0], "int64")
        out = whole.random_resized_crop_tf(
            tf.constant(canvas), tf.constant((height, width)), seed, 32
        ).numpy()
        assert out.shape == (32, 32, 3) and out.dtype == np.uint8
        # Never a pixel of the canvas padding (it would darken the colour).
        assert np.abs(out.astype(int) - (200, 120, 40)).max() <= 1
        top, left, h, w = whole.crop_box_tf(
            tf.constant((height, width)), seed
        ).numpy()
        seen.append(h * w / (height * width))
    # timm sees 0.8-1 of the photograph; its centre square is 0.75 of it.
    assert 0.8 <= min(seen) and np.mean(seen) > 0.85


def test_canvas_scale_never_adds_pixels_beyond_the_centre_square():
    assert whole.fit_scale(32, 32, 32) == 1.0
    assert whole.fit_scale(20, 20, 32) == pytest.approx(1.6)
    assert whole.fit_scale(500, 375, 224) == pytest.approx(299 / 500)
    image = tf.zeros((375, 500, 3), "uint8")
    canvas, size = whole.fit_canvas_tf(image, 32)
    assert canvas.shape == (43, 43, 3) and tuple(size.numpy()) == (32, 43)


def test_folder_under_the_official_recipe_crops_the_whole_image(make_folder):
    path, _ = make_folder(splits=("train",), per_class=6, extras=False)

    def load(recipe, backend_format="auto"):
        return data.load(
            str(path),
            16,
            64,
            recipe=recipe,
            test_split="train",
            backend_format=backend_format,
        )

    official, plain = load("official"), load("none")
    assert official.info.whole_image_crop and not plain.info.whole_image_crop
    # Evaluation images are the same centre squares either way.
    for split in ("validation", "test"):
        a = np.concatenate(
            [b[0] for b in data.as_numpy(getattr(official, split))]
        )
        b = np.concatenate([b[0] for b in data.as_numpy(getattr(plain, split))])
        np.testing.assert_array_equal(a, b)
    images, labels = next(iter(data.as_numpy(official.train)))
    assert images.shape[1:] == (16, 16, 3) and images.dtype == np.uint8
    assert official.info.split_sizes == plain.info.split_sizes
    numpy_form = load("official", backend_format="numpy")
    assert not numpy_form.info.whole_image_crop
    assert any("centre square" in note for note in numpy_form.info.notes)


def test_official_augment_without_crop_keeps_the_frame():
    import keras

    from keras_snp.training.augment import geometry
    from keras_snp.training.augment.official import OfficialAugment

    frame = geometry.sample_flip(64, 12, 16, keras.random.SeedGenerator(0))
    frame = {k: keras.ops.convert_to_numpy(v) for k, v in frame.items()}
    assert (frame["top"] == 0).all() and (frame["left"] == 0).all()
    assert (frame["height"] == 12).all() and (frame["width"] == 16).all()
    assert 10 < frame["flip"].sum() < 54
    layer = OfficialAugment(3, (0.5,) * 3, (0.25,) * 3, crop=False, seed=1)
    again = OfficialAugment.from_config(layer.get_config())
    assert again.crop is False
