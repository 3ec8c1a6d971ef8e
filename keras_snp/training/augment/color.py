"""RandAugment's pixel ops on batches, per image, as Pillow computes them.

timm applies its colour ops through Pillow on uint8 images: `ImageOps`
(auto-contrast, equalize, invert, posterize, solarize), a lookup table
(solarize-add) and `ImageEnhance` (colour, contrast, brightness,
sharpness), each of which blends the image with a "degenerate" image and
truncates to uint8. Here the same arithmetic runs on a float32 batch of
uint8 (or float32) batch of integer values in 0..255, one op (or none)
per image, in one elementwise pass that XLA fuses:

- eight ops are per-image, per-channel lookup tables over the 256 values,
  applied with one gather over the batch. Only auto-contrast, equalize
  and contrast need image statistics (histograms, grey mean); those are
  computed on the sub-batch of images that drew one (`subset.select`);
- colour blends with the image's grey levels (three loads per pixel, for
  the whole batch); sharpness blends with a 3x3 smoothing, computed on
  its sub-batch only.

Everything is `keras.ops`, so it runs inside a compiled train step on any
backend.
"""

import keras
from keras import ops

from keras_snp.training.augment import subset

# Op codes of the pixel ops (the geometric ones live in `geometry.py`);
# `NONE` leaves the image unchanged.
NONE = 0
AUTO_CONTRAST = 1
EQUALIZE = 2
INVERT = 3
POSTERIZE = 4
SOLARIZE = 5
SOLARIZE_ADD = 6
CONTRAST = 7
BRIGHTNESS = 8
COLOR = 9
SHARPNESS = 10

LEVELS = 256


def grayscale(images):
    """Pillow's `convert("L")`: `(19595 R + 38470 G + 7471 B + 2**15) >> 16`.

    Exact in float32 (every intermediate is an integer below 2**24).
    """
    images = ops.cast(images, "float32")
    total = (
        images[..., 0:1] * 19595.0
        + images[..., 1:2] * 38470.0
        + images[..., 2:3] * 7471.0
    )
    return ops.floor((total + 32768.0) / 65536.0)


def _offsets(batch, channels):
    return ops.reshape(
        ops.arange(batch * channels, dtype="int32") * LEVELS,
        (batch, 1, 1, channels),
    )


def histograms(images):
    """Per-image, per-channel counts of the 256 values: `(B, C, 256)`."""
    batch, channels = images.shape[0], images.shape[-1]
    values = ops.cast(images, "int32") + _offsets(batch, channels)
    flat = ops.reshape(values, (-1,))
    counts = ops.segment_sum(
        ops.ones_like(flat, dtype="float32"),
        flat,
        num_segments=batch * channels * LEVELS,
    )
    return ops.reshape(counts, (batch, channels, LEVELS))


def _blend_table(degenerate, factor, levels):
    # Pillow's `Image.blend` in float32, truncated (values stay >= 0
    # inside [0, 1]; outside, the result is clipped to 0..255).
    return ops.clip(
        ops.floor(degenerate + factor * (levels - degenerate)), 0.0, 255.0
    )


def _auto_contrast_table(low, high, levels):
    # `ImageOps.autocontrast` (cutoff 0): stretch [low, high] to 0..255.
    scale = 255.0 / ops.maximum(high - low, 1.0)
    table = ops.clip(ops.floor(levels * scale - low * scale), 0.0, 255.0)
    return ops.where(high > low, table, levels)


def _equalize_table(counts, levels):
    index = ops.broadcast_to(levels, ops.shape(counts))
    present = counts > 0
    last = ops.max(ops.where(present, index, -1.0), axis=-1, keepdims=True)
    last_count = ops.sum(
        ops.where(index == last, counts, 0.0), axis=-1, keepdims=True
    )
    total = ops.sum(counts, axis=-1, keepdims=True)
    step = ops.floor((total - last_count) / 255.0)
    distinct = ops.sum(ops.cast(present, "float32"), axis=-1, keepdims=True)
    before = ops.cumsum(counts, axis=-1) - counts
    safe = ops.maximum(step, 1.0)
    table = ops.minimum(
        ops.floor((ops.floor(safe / 2.0) + before) / safe), 255.0
    )
    keep = (distinct > 1.0) & (step > 0.0)
    return ops.where(keep, table, levels)


def statistics_tables(images, codes, args, op_prob=1.0):
    """Tables `(S, C, 256)` of the ops that read image statistics.

    Auto-contrast (per-channel minimum and maximum), equalize (per-channel
    histograms, computed only on the images that drew it) and contrast
    (the grey mean); every other code gets the identity.

    Args:
        images: `(S, H, W, C)`, integer values 0..255.
        codes: int `(S,)` op codes.
        args: float32 `(S,)`, the contrast factor.
        op_prob: the probability that an image drew equalize (sizes its
            sub-batch).
    """
    levels = ops.arange(LEVELS, dtype="float32")
    pixels = ops.cast(images, "float32")
    low = ops.expand_dims(ops.min(pixels, axis=(1, 2)), -1)
    high = ops.expand_dims(ops.max(pixels, axis=(1, 2)), -1)
    gray_mean = ops.mean(grayscale(images), axis=(1, 2, 3))
    contrast_mean = ops.reshape(ops.floor(gray_mean + 0.5), (-1, 1, 1))
    code = ops.reshape(codes, (-1, 1, 1))
    arg = ops.reshape(args, (-1, 1, 1))
    table = ops.where(
        code == CONTRAST, _blend_table(contrast_mean, arg, levels), levels
    )
    table = ops.where(
        code == AUTO_CONTRAST, _auto_contrast_table(low, high, levels), table
    )
    rows, pos, hit = subset.select(codes == EQUALIZE, op_prob)
    counts = histograms(ops.take(images, rows, axis=0))
    return subset.merge(table, _equalize_table(counts, levels), pos, hit)


def argument_tables(codes, args, channels=3):
    """Tables `(B, C, 256)` of the ops set by their argument alone.

    Invert, posterize (bits), solarize (threshold), solarize-add (amount),
    brightness (factor); every other code gets the identity.
    """
    levels = ops.arange(LEVELS, dtype="float32")
    arg = ops.reshape(args, (-1, 1, 1))
    code = ops.reshape(codes, (-1, 1, 1))
    step = 2.0 ** (8.0 - arg)
    candidates = [
        (INVERT, 255.0 - levels),
        (POSTERIZE, ops.floor(levels / step) * step),
        (SOLARIZE, ops.where(levels < arg, levels, 255.0 - levels)),
        (
            SOLARIZE_ADD,
            ops.where(levels < 128.0, ops.minimum(levels + arg, 255.0), levels),
        ),
        (BRIGHTNESS, _blend_table(0.0, arg, levels)),
    ]
    table = levels
    for value, candidate in candidates:
        table = ops.where(code == value, candidate, table)
    return ops.broadcast_to(table, (ops.shape(codes)[0], channels, LEVELS))


def lookup_tables(images, codes, args):
    """Per-image, per-channel tables `(B, C, 256)` of the table ops.

    Args:
        images: `(B, H, W, C)`, integer values 0..255.
        codes: int `(B,)` op codes; non-table ops get the identity.
        args: float32 `(B,)`: posterize bits, solarize threshold,
            solarize-add amount, contrast or brightness factor.

    Returns:
        float32 `(B, C, 256)`.
    """
    table = argument_tables(codes, args, images.shape[-1])
    stats = statistics_tables(images, codes, args)
    needs = ops.reshape(_is_any(codes, STATISTICS_OPS), (-1, 1, 1))
    return ops.where(needs, stats, table)


def apply_tables(images, tables):
    """`tables[b, c, images[b, y, x, c]]`, one gather for the batch."""
    batch, channels = images.shape[0], images.shape[-1]
    index = ops.cast(images, "int32") + _offsets(batch, channels)
    return ops.take(ops.reshape(tables, (-1,)), index)


def smooth(images):
    """Pillow's `ImageFilter.SMOOTH` (3x3, centre 5, others 1, / 13).

    Border pixels keep their value, as in Pillow; the result is rounded.
    """
    images = ops.cast(images, "float32")
    height, width = images.shape[1], images.shape[2]
    padded = ops.pad(images, ((0, 0), (1, 1), (1, 1), (0, 0)))
    total = 4.0 * images
    for dy in range(3):
        for dx in range(3):
            total = total + padded[:, dy : dy + height, dx : dx + width, :]
    smoothed = ops.floor(total / 13.0 + 0.5)
    rows = ops.arange(height)[:, None]
    cols = ops.arange(width)[None, :]
    inner = (rows > 0) & (rows < height - 1) & (cols > 0) & (cols < width - 1)
    return ops.where(inner[None, :, :, None], smoothed, images)


STATISTICS_OPS = (AUTO_CONTRAST, EQUALIZE, CONTRAST)
TABLE_OPS = (
    AUTO_CONTRAST,
    EQUALIZE,
    INVERT,
    POSTERIZE,
    SOLARIZE,
    SOLARIZE_ADD,
    CONTRAST,
    BRIGHTNESS,
)


def _is_any(codes, values):
    found = codes == values[0]
    for value in values[1:]:
        found = found | (codes == value)
    return found


def _per_image(values):
    return ops.reshape(values, (-1, 1, 1, 1))


def _pixel_op_inputs(images, codes, args, op_prob):
    # The small things a pixel op reads: the tables, and the sharpened
    # sub-batch with its positions.
    dtype, channels = images.dtype, images.shape[-1]
    args = ops.cast(args, "float32")
    # Statistics tables on the images that drew auto-contrast, equalize
    # or contrast; argument tables for the whole batch (they are tiny).
    stats_prob = min(1.0, op_prob * len(STATISTICS_OPS))
    rows, pos, hit = subset.select(_is_any(codes, STATISTICS_OPS), stats_prob)
    stats = statistics_tables(
        ops.take(images, rows, axis=0),
        ops.take(codes, rows, axis=0),
        ops.take(args, rows, axis=0),
        min(1.0, op_prob / stats_prob),
    )
    tables = subset.merge(
        argument_tables(codes, args, channels), stats, pos, hit
    )
    # Sharpness: a 3x3 stencil, only on the images that drew it.
    rows, pos, hit = subset.select(codes == SHARPNESS, op_prob)
    sub = ops.take(images, rows, axis=0)
    factor = _per_image(ops.take(args, rows))
    sharp = _blend_table(smooth(sub), factor, ops.cast(sub, "float32"))
    return ops.cast(tables, dtype), ops.cast(sharp, dtype), pos, hit, rows


def _apply_pixel_inputs(images, codes, args, tables, sharp, pos, hit, rows):
    out = apply_tables(images, tables)
    # Colour: a blend with the grey levels, cheap enough for every image.
    pixels = ops.cast(images, "float32")
    factor = _per_image(ops.cast(args, "float32"))
    colour = _blend_table(grayscale(images), factor, pixels)
    out = ops.where(
        _per_image(codes == COLOR), ops.cast(colour, images.dtype), out
    )
    return subset.merge(out, sharp, pos, hit, rows)


def apply_pixel_op(images, codes, args, op_prob=1.0):
    """One pixel op (or none) per image.

    Args:
        images: uint8 or float32 `(B, H, W, C)` with integer values
            0..255 and a static `B`.
        codes: int `(B,)` op codes of this module (`NONE` for none).
        args: float32 `(B,)`, the op's argument (see `lookup_tables`;
            the enhancement factor for colour and sharpness).
        op_prob: the probability that one image draws a given op; below
            1, the statistics ops and sharpness run on sub-batches sized
            for them (`subset.select`).

    Returns:
        `images`' dtype `(B, H, W, C)`, integer values 0..255. Keep it
        uint8: every full-batch tensor is then a quarter of the float32
        size.
    """
    inputs = subset.compiled(_pixel_op_inputs)(images, codes, args, op_prob)
    if keras.backend.backend() != "tensorflow":
        inputs = subset.materialize(inputs)
    return subset.compiled(_apply_pixel_inputs)(images, codes, args, *inputs)
