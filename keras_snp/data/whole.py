"""The official recipe's random-resized crop, drawn from the whole image.

timm's `RandomResizedCrop` draws its box from the original image: on a
500 x 375 Flowers-102 photograph a crop of 0.8-1 of the area sees about
0.88 of the flower, where a crop of the centre square sees about 0.65 of
it. Sources whose images vary in size (folders, Flowers-102) therefore
keep each training image whole under the official recipe: fitted into a
square canvas of side `canvas_side(S)` (aspect kept, placed top-left, the
rest zero) beside its height and width, and the tf.data pipeline draws the
crop per image and per epoch (torchvision's `get_params` on the image's own
size) and resizes it to `S` (bilinear, antialiased). The device then only
flips (`OfficialAugment(crop=False)`). Evaluation splits keep the centre
square.
"""

import math

import numpy as np

from keras_snp.constants import CROP_ATTEMPTS
from keras_snp.constants import CROP_RATIO
from keras_snp.constants import CROP_SCALE

#: A canvas is this much wider than the output: a 4:3 photograph keeps
#: its shorter side at the output size.
CANVAS_RATIO = 4.0 / 3.0


def canvas_side(image_size):
    return int(math.ceil(image_size * CANVAS_RATIO))


def fit_scale(width, height, image_size):
    """Scale of a `width x height` image in its canvas: the longer side
    fills the canvas, except that a small image is enlarged only until its
    shorter side is `image_size` (no more pixels than the centre square
    had)."""
    fit = canvas_side(image_size) / max(width, height)
    if fit <= 1:
        return fit
    return min(fit, max(1.0, image_size / min(width, height)))


def fit_canvas_pil(image, image_size):
    """`(uint8 (C, C, 3) canvas, (height, width))` of an RGB PIL image."""
    from PIL import Image

    side = canvas_side(image_size)
    scale = fit_scale(image.width, image.height, image_size)
    width = min(side, max(1, round(image.width * scale)))
    height = min(side, max(1, round(image.height * scale)))
    if (width, height) != image.size:
        image = image.resize((width, height), Image.BILINEAR, reducing_gap=None)
    canvas = np.zeros((side, side, 3), "uint8")
    canvas[:height, :width] = np.asarray(image, "uint8")
    return canvas, (height, width)


def crop_box_tf(size, seed, scale=CROP_SCALE, ratio=CROP_RATIO):
    """torchvision's `RandomResizedCrop.get_params` for one image of
    `size = (height, width)` (int32): `(top, left, height, width)` int32.

    Ten attempts of area `U(scale)` and aspect `exp(U(log ratio))`, the
    first that fits placed uniformly; else the centre crop of the clamped
    aspect. `seed`: a stateless seed pair.
    """
    import tensorflow as tf

    height = tf.cast(size[0], "float32")
    width = tf.cast(size[1], "float32")
    draws = tf.random.stateless_uniform((CROP_ATTEMPTS, 4), seed)
    target = (scale[0] + (scale[1] - scale[0]) * draws[:, 0]) * height * width
    low, high = math.log(ratio[0]), math.log(ratio[1])
    aspect = tf.exp(low + (high - low) * draws[:, 1])
    crop_w = tf.round(tf.sqrt(target * aspect))
    crop_h = tf.round(tf.sqrt(target / aspect))
    fits = (crop_w > 0) & (crop_w <= width) & (crop_h > 0) & (crop_h <= height)
    first = tf.argmax(tf.cast(fits, "int32"))
    top = tf.floor(draws[first, 2] * (height - crop_h[first] + 1))
    left = tf.floor(draws[first, 3] * (width - crop_w[first] + 1))
    in_ratio = width / height
    fallback_w = tf.where(
        in_ratio > ratio[1], tf.round(height * ratio[1]), width
    )
    fallback_h = tf.where(
        in_ratio < ratio[0], tf.round(width / ratio[0]), height
    )
    found = tf.reduce_any(fits)
    box = tf.where(
        found,
        tf.stack([top, left, crop_h[first], crop_w[first]]),
        tf.stack(
            [
                tf.floor((height - fallback_h) / 2),
                tf.floor((width - fallback_w) / 2),
                fallback_h,
                fallback_w,
            ]
        ),
    )
    return tf.cast(box, "int32")


def random_resized_crop_tf(canvas, size, seed, image_size):
    """One crop of the whole image in `canvas`, resized to `image_size`;
    uint8 out."""
    import tensorflow as tf

    top, left, height, width = tf.unstack(crop_box_tf(size, seed))
    crop = canvas[top : top + height, left : left + width]
    crop = tf.image.resize(
        tf.cast(crop, "float32"),
        (image_size, image_size),
        method="bilinear",
        antialias=True,
    )
    return tf.cast(tf.clip_by_value(tf.round(crop), 0, 255), "uint8")


def fit_canvas_tf(image, image_size):
    """`fit_canvas_pil` in TensorFlow (for tfds sources): `(uint8 canvas,
    int32 (height, width))` of an RGB image of any size."""
    import tensorflow as tf

    side = canvas_side(image_size)
    shape = tf.cast(tf.shape(image)[:2], "float32")
    longer, shorter = tf.reduce_max(shape), tf.reduce_min(shape)
    fit = side / longer
    scale = tf.where(
        fit <= 1.0,
        fit,
        tf.minimum(fit, tf.maximum(1.0, image_size / shorter)),
    )
    new = tf.cast(tf.round(shape * scale), "int32")
    new = tf.clip_by_value(new, 1, side)
    resized = tf.image.resize(
        tf.cast(image, "float32"), new, method="bilinear", antialias=True
    )
    resized = tf.cast(tf.clip_by_value(tf.round(resized), 0, 255), "uint8")
    canvas = tf.image.pad_to_bounding_box(resized, 0, 0, side, side)
    return canvas, new
