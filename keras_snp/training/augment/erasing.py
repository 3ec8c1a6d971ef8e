"""timm's `RandomErasing(probability=0.25, mode="pixel")`, per image.

With probability 0.25 an image gets one box of area `U(0.02, 1/3)` of the
image and aspect `exp(U(log 0.3, log 1/0.3))` (up to ten attempts, the
first that fits, placed uniformly), filled with per-pixel normal noise in
the model's normalised space. timm erases after normalisation; here images
are still in 0..255, so the noise is `255 * (mean + std * N(0, 1))` per
channel, which the model's `ImageNormalization` maps to `N(0, 1)`.
"""

import math

import keras
from keras import ops

from keras_snp.training.augment import subset

ERASE_PROB = 0.25
AREA = (0.02, 1.0 / 3.0)
ASPECT = (0.3, 1.0 / 0.3)
ATTEMPTS = 10


def sample_erasing(
    batch_size, height, width, seed, prob=ERASE_PROB, area=AREA, aspect=ASPECT
):
    """Draws timm's erasing boxes, one per image.

    Args:
        batch_size: B.
        height, width: image size (Python ints).
        seed: a `keras.random.SeedGenerator` (or int).
        prob: probability that an image is erased.
        area: box area range, as fractions of the image.
        aspect: box aspect (height / width) range, drawn log-uniformly.

    Returns:
        dict of `(B,)` tensors: `erase` (bool: drawn and a box fitted),
        `top`, `left`, `height`, `width` (float32 pixels).
    """
    draws = keras.random.uniform((batch_size, 1 + ATTEMPTS * 4), seed=seed)
    tries = ops.reshape(draws[:, 1:], (batch_size, ATTEMPTS, 4))
    target = (area[0] + (area[1] - area[0]) * tries[..., 0]) * (height * width)
    log_low, log_high = math.log(aspect[0]), math.log(aspect[1])
    ratio = ops.exp(log_low + (log_high - log_low) * tries[..., 1])
    box_h = ops.round(ops.sqrt(target * ratio))
    box_w = ops.round(ops.sqrt(target / ratio))
    fits = (box_w < width) & (box_h < height)
    count = ATTEMPTS
    ranks = ops.where(fits, ops.arange(count, dtype="int32"), count)
    first = ops.min(ranks, axis=-1)
    index = ops.minimum(first, count - 1)[:, None]

    def pick(values):
        return ops.take_along_axis(values, index, axis=-1)[:, 0]

    box_h, box_w = pick(box_h), pick(box_w)
    return {
        "erase": (draws[:, 0] < prob) & (first < count),
        "top": ops.floor(pick(tries[..., 2]) * (height - box_h + 1)),
        "left": ops.floor(pick(tries[..., 3]) * (width - box_w + 1)),
        "height": box_h,
        "width": box_w,
    }


def box_mask(boxes, height, width):
    """`(B, H, W)` bool: pixel inside `[top, top + h) x [left, left + w)`."""
    rows = ops.arange(height, dtype="float32")[None, :, None]
    cols = ops.arange(width, dtype="float32")[None, None, :]

    def column(name):
        return ops.reshape(boxes[name], (-1, 1, 1))

    top, left = column("top"), column("left")
    return (
        (rows >= top)
        & (rows < top + column("height"))
        & (cols >= left)
        & (cols < left + column("width"))
    )


def apply_erasing(images, boxes, noise, mean, std):
    """Replaces each erased box by `255 * (mean + std * noise)`.

    Args:
        images: float32 `(B, H, W, C)` in 0..255.
        boxes: `sample_erasing`'s dict.
        noise: float32 `(B, H, W, C)` standard normal noise.
        mean, std: the model's normalisation constants (0..1 scale).
    """
    height, width = ops.shape(images)[1], ops.shape(images)[2]
    mask = box_mask(boxes, height, width)
    mask = mask & ops.reshape(boxes["erase"], (-1, 1, 1))
    mean = ops.convert_to_tensor([255.0 * m for m in mean], "float32")
    std = ops.convert_to_tensor([255.0 * s for s in std], "float32")
    return ops.where(mask[..., None], mean + std * noise, images)


NOISE_SIGMAS = 3.0


def noise_shape(batch_size, height, width, channels=3, prob=ERASE_PROB):
    """`(rows, patch, channels)` of the erasing noise a batch needs.

    A box holds at most `H W / 3 + (H + W) / 2` pixels (the area bound
    plus the rounding of both sides), so each erased image reads its noise
    from one `patch`-long row; `rows` is three standard deviations above
    the expected number of erased images (a surplus image reuses the row
    of an earlier one: its noise is still N(0, 1) per pixel).
    """
    rows = subset.capacity(batch_size, prob, NOISE_SIGMAS)
    patch = height * width // 3 + height + width
    return (rows, patch, channels)


def sample_noise(batch_size, height, width, seed, channels=3, prob=ERASE_PROB):
    """Standard normal noise of `noise_shape`, for `erase_patches`."""
    shape = noise_shape(batch_size, height, width, channels, prob)
    return keras.random.normal(shape, seed=seed)


def erase_patches(images, boxes, noise, mean, std):
    """timm's pixel-mode erasing with the noise of `sample_noise`.

    The `k`-th erased image of the batch fills its `h x w` box, row by
    row, with the first `h w` pixels of noise row `k` (modulo the rows):
    `255 * (mean + std * noise[k, :h w].reshape(h, w, C))`. One fused
    gather; nothing is computed for the images left alone.

    Args:
        images: `(B, H, W, C)` in 0..255 (any dtype).
        boxes: `sample_erasing`'s dict.
        noise: float32 `(rows, patch, C)` standard normal noise.
        mean, std: the model's normalisation constants (0..1 scale).

    Returns:
        float32 `(B, H, W, C)`.
    """
    height, width, channels = images.shape[1], images.shape[2], images.shape[3]
    rows, patch = noise.shape[0], noise.shape[1]
    rank = ops.cumsum(ops.cast(boxes["erase"], "int32")) - 1
    row = ops.mod(ops.maximum(rank, 0), rows)
    erased = boxes["erase"]
    row = ops.reshape(row, (-1, 1, 1))
    mask = box_mask(boxes, height, width) & ops.reshape(erased, (-1, 1, 1))

    def column(name):
        return ops.reshape(ops.cast(boxes[name], "int32"), (-1, 1, 1))

    ys = ops.arange(height, dtype="int32")[None, :, None]
    xs = ops.arange(width, dtype="int32")[None, None, :]
    offset = (ys - column("top")) * column("width") + xs - column("left")
    offset = ops.clip(offset, 0, patch - 1)
    index = ((row * patch + offset) * channels)[..., None]
    index = index + ops.arange(channels, dtype="int32")
    values = ops.take(ops.reshape(noise, (-1,)), index)
    mean = ops.convert_to_tensor([255.0 * m for m in mean], "float32")
    std = ops.convert_to_tensor([255.0 * s for s in std], "float32")
    return ops.where(
        mask[..., None], mean + std * values, ops.cast(images, "float32")
    )
