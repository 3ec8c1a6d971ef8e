"""Random-resized crop, flip and RandAugment's geometric ops as matrices.

Every geometric step is a 3x3 matrix mapping an output point to the point
it samples in its input, in Pillow's continuous pixel coordinates (the
centre of pixel `i` is `i + 0.5`), the way `Image.transform(AFFINE)`,
`Image.rotate` and torchvision's `resized_crop` define them. A chain of
steps (crop, flip, rotate, shear, ...) is one matrix product, so a whole
chain costs one resampling of the batch (`warp`).

Sampling follows Pillow: a point outside an intermediate image gets the
fill colour, one inside it is interpolated bilinearly with edge pixels
repeated. `warp` reproduces this for a composed chain: it samples with
edge pixels repeated and puts the fill colour wherever any step of the
chain maps the point outside its own input.
"""

import math

import keras
from keras import ops

from keras_snp.constants import CROP_ATTEMPTS
from keras_snp.constants import CROP_RATIO
from keras_snp.constants import CROP_SCALE
from keras_snp.training.augment import subset

# Op codes of the geometric ops; `NONE` is the identity.
NONE = 0
ROTATE = 1
SHEAR_X = 2
SHEAR_Y = 3
TRANSLATE_X = 4
TRANSLATE_Y = 5


def _first_true(mask):
    """Index of the first true entry along the last axis, and whether any."""
    count = ops.shape(mask)[-1]
    ranks = ops.where(mask, ops.arange(count, dtype="int32"), count)
    first = ops.min(ranks, axis=-1)
    return ops.minimum(first, count - 1), first < count


def _pick(values, index):
    return ops.take_along_axis(values, index[:, None], axis=-1)[:, 0]


def sample_crop(
    batch_size, height, width, seed, scale=CROP_SCALE, ratio=CROP_RATIO
):
    """torchvision/timm `RandomResizedCrop.get_params` and a flip, per image.

    Up to ten attempts of area `U(scale) * H * W` and aspect
    `exp(U(log ratio))`; the first that fits is placed uniformly, else the
    central crop of the clamped aspect ratio.

    Args:
        batch_size: B.
        height, width: the input image size (Python ints).
        seed: a `keras.random.SeedGenerator` (or int).
        scale, ratio: the crop's area fraction and aspect ranges.

    Returns:
        dict of float32 `(B,)` tensors `top`, `left`, `height`, `width`
        (pixels) and bool `(B,)` `flip` (horizontal flip, probability 0.5).
    """
    draws = keras.random.uniform((batch_size, CROP_ATTEMPTS * 4 + 1), seed=seed)
    attempts = ops.reshape(draws[:, :-1], (batch_size, CROP_ATTEMPTS, 4))
    area = float(height * width)
    target = (scale[0] + (scale[1] - scale[0]) * attempts[..., 0]) * area
    log_low, log_high = math.log(ratio[0]), math.log(ratio[1])
    aspect = ops.exp(log_low + (log_high - log_low) * attempts[..., 1])
    crop_w = ops.round(ops.sqrt(target * aspect))
    crop_h = ops.round(ops.sqrt(target / aspect))
    fits = (crop_w <= width) & (crop_h <= height)
    first, found = _first_true(fits)
    crop_h, crop_w = _pick(crop_h, first), _pick(crop_w, first)
    top = ops.floor(_pick(attempts[..., 2], first) * (height - crop_h + 1))
    left = ops.floor(_pick(attempts[..., 3], first) * (width - crop_w + 1))
    in_ratio = width / height
    if in_ratio < min(ratio):
        fallback_w, fallback_h = width, round(width / min(ratio))
    elif in_ratio > max(ratio):
        fallback_w, fallback_h = round(height * max(ratio)), height
    else:
        fallback_w, fallback_h = width, height
    return {
        "top": ops.where(found, top, (height - fallback_h) // 2),
        "left": ops.where(found, left, (width - fallback_w) // 2),
        "height": ops.where(found, crop_h, float(fallback_h)),
        "width": ops.where(found, crop_w, float(fallback_w)),
        "flip": draws[:, -1] < 0.5,
    }


def sample_flip(batch_size, height, width, seed):
    """`sample_crop`'s dict for the whole frame (the host already cropped:
    `keras_snp.data.whole`), with the flip, probability 0.5."""
    draws = keras.random.uniform((batch_size,), seed=seed)
    ones = ops.ones((batch_size,), "float32")
    return {
        "top": ones * 0.0,
        "left": ones * 0.0,
        "height": ones * float(height),
        "width": ones * float(width),
        "flip": draws < 0.5,
    }


def _matrix(a, b, c, d, e, f):
    zero, one = ops.zeros_like(a), ops.ones_like(a)
    rows = [
        ops.stack(r, axis=-1) for r in ((a, b, c), (d, e, f), (zero, zero, one))
    ]
    return ops.stack(rows, axis=-2)


def crop_matrix(crop, height, width):
    """Output `(height, width)` point -> point of the crop's input, with the
    flip applied after the crop (timm's order), `(B, 3, 3)`."""
    sx = crop["width"] / width
    sy = crop["height"] / height
    flip = ops.cast(crop["flip"], "float32")
    # x_in = left + sx * x' with x' = W - x when flipped.
    a = sx * (1.0 - 2.0 * flip)
    c = crop["left"] + sx * width * flip
    zero = ops.zeros_like(sx)
    return _matrix(a, zero, c, zero, sy, crop["top"])


def op_matrix(codes, args, height, width):
    """Pillow's matrices of timm's geometric ops, `(B, 3, 3)`.

    Args:
        codes: int `(B,)` op codes of this module.
        args: float32 `(B,)`: degrees (counter-clockwise) for `ROTATE`,
            the shear factor, or the translation as a fraction of the side.
    """
    angle = -args * (math.pi / 180.0)
    cos, sin = ops.cos(angle), ops.sin(angle)
    cx, cy = width / 2.0, height / 2.0
    is_rot = codes == ROTATE
    one, zero = ops.ones_like(args), ops.zeros_like(args)
    a = ops.where(is_rot, cos, one)
    b = ops.where(is_rot, sin, ops.where(codes == SHEAR_X, args, zero))
    d = ops.where(is_rot, -sin, ops.where(codes == SHEAR_Y, args, zero))
    e = a
    c = ops.where(
        is_rot,
        cx - cos * cx - sin * cy,
        ops.where(codes == TRANSLATE_X, args * width, zero),
    )
    f = ops.where(
        is_rot,
        cy + sin * cx - cos * cy,
        ops.where(codes == TRANSLATE_Y, args * height, zero),
    )
    return _matrix(a, b, c, d, e, f)


def _bilinear(images, x, y):
    # Samples (B, H, W) index coordinates with edge pixels repeated: four
    # scalar gathers per output value from the flat batch, which XLA fuses
    # with the arithmetic into one pass (no intermediate batch).
    batch, height, width, channels = images.shape
    x = ops.clip(x, 0.0, width - 1.0)
    y = ops.clip(y, 0.0, height - 1.0)
    x0, y0 = ops.floor(x), ops.floor(y)
    dx, dy = (x - x0)[..., None], (y - y0)[..., None]
    x0, y0 = ops.cast(x0, "int32"), ops.cast(y0, "int32")
    x1 = ops.minimum(x0 + 1, width - 1)
    y1 = ops.minimum(y0 + 1, height - 1)
    base = ops.reshape(
        ops.arange(batch, dtype="int32") * (height * width), (-1, 1, 1)
    )
    if keras.backend.backend() == "tensorflow":
        flat = ops.reshape(images, (-1,))
        channel = ops.arange(channels, dtype="int32")

        def at(row, col):
            index = ((base + row * width + col) * channels)[..., None]
            return ops.cast(ops.take(flat, index + channel), "float32")

    else:
        pixels = ops.reshape(images, (-1, channels))

        def at(row, col):
            index = base + row * width + col
            return ops.cast(ops.take(pixels, index, axis=0), "float32")

    top = at(y0, x0) * (1.0 - dx) + at(y0, x1) * dx
    bottom = at(y1, x0) * (1.0 - dx) + at(y1, x1) * dx
    return top * (1.0 - dy) + bottom * dy


def _coords(matrix, height, width):
    # Output pixel centres mapped by `matrix` (Pillow coordinates).
    ys = ops.arange(height, dtype="float32") + 0.5
    xs = ops.arange(width, dtype="float32") + 0.5
    m = ops.reshape(matrix, (-1, 9))

    def coord(row):
        return (
            m[:, 3 * row, None, None] * xs[None, None, :]
            + m[:, 3 * row + 1, None, None] * ys[None, :, None]
            + m[:, 3 * row + 2, None, None]
        )

    return coord(0), coord(1)


def _inside(matrix, height, width):
    x, y = _coords(matrix, height, width)
    return (x >= 0.0) & (x < width) & (y >= 0.0) & (y < height)


def warp(images, matrix, checks, fill):
    """Samples `images` through `matrix`, Pillow-style, rounded to integers.

    Bilinear interpolation with edge pixels repeated, written as gathers
    (one fused XLA pass; TensorFlow's `ImageProjectiveTransformV3` kernel
    has no XLA kernel and was slower on a CPU).

    Args:
        images: uint8 or float32 `(B, H, W, C)` with a static shape.
        matrix: `(B, 3, 3)`, output point -> input point.
        checks: list of `(B, 3, 3)` matrices; an output point whose image
            under any of them leaves `[0, W) x [0, H)` gets `fill`.
        fill: float32 `(C,)`, the fill colour.

    Returns:
        `images`' dtype `(B, H, W, C)`, rounded to integers and clipped to
        0..255.
    """
    out = subset.compiled(_warp)(images, matrix, list(checks), fill)
    return subset.settle(out)


def _warp(images, matrix, checks, fill):
    height, width = images.shape[1], images.shape[2]
    x, y = _coords(matrix, height, width)
    out = _bilinear(images, x - 0.5, y - 0.5)
    out = ops.clip(ops.round(out), 0.0, 255.0)
    keep = None
    for check in checks:
        inside = _inside(check, height, width)
        keep = inside if keep is None else keep & inside
    if keep is not None:
        fill = ops.reshape(ops.cast(fill, "float32"), (1, 1, 1, -1))
        out = ops.where(keep[..., None], out, fill)
    return ops.cast(out, images.dtype)
