"""RandAugment's pixel ops on batches, per image, as Pillow computes them.

timm applies its colour ops through Pillow on uint8 images: `ImageOps`
(auto-contrast, equalize, invert, posterize, solarize), a lookup table
(solarize-add) and `ImageEnhance` (colour, contrast, brightness,
sharpness), each of which blends the image with a "degenerate" image and
truncates to uint8. Here the same arithmetic runs on a float32 batch of
integer values in 0..255, with one op (or none) per image:

- eight ops are per-image, per-channel lookup tables over the 256 values
  (`lookup_tables`), applied with one gather;
- colour and sharpness blend with a per-image degenerate image (grey
  levels, 3x3 smoothing), with factor 1 (an exact identity) for the rest.

Everything is `keras.ops`, so it runs inside a compiled train step on any
backend.
"""

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
    weights = ops.convert_to_tensor([19595.0, 38470.0, 7471.0], "float32")
    total = ops.sum(images * weights, axis=-1, keepdims=True)
    return ops.floor((total + 32768.0) / 65536.0)


def histograms(images):
    """Per-image, per-channel counts of the 256 values: `(B, C, 256)`."""
    batch, channels = ops.shape(images)[0], ops.shape(images)[-1]
    values = ops.cast(images, "int32")
    offsets = ops.reshape(
        ops.arange(batch * channels, dtype="int32") * LEVELS,
        (batch, 1, 1, channels),
    )
    flat = ops.reshape(values + offsets, (-1,))
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


def _auto_contrast_table(counts, levels):
    present = counts > 0
    index = ops.broadcast_to(levels, ops.shape(counts))
    low = ops.min(ops.where(present, index, 255.0), axis=-1, keepdims=True)
    high = ops.max(ops.where(present, index, 0.0), axis=-1, keepdims=True)
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


def lookup_tables(images, codes, args):
    """Per-image, per-channel tables `(B, C, 256)` of the table ops.

    Args:
        images: float32 `(B, H, W, C)`, integer values 0..255.
        codes: int `(B,)` op codes; non-table ops get the identity.
        args: float32 `(B,)`: posterize bits, solarize threshold,
            solarize-add amount, contrast or brightness factor.

    Returns:
        float32 `(B, C, 256)`.
    """
    channels = ops.shape(images)[-1]
    levels = ops.arange(LEVELS, dtype="float32")
    counts = histograms(images)
    arg = ops.reshape(args, (-1, 1, 1))
    code = ops.reshape(codes, (-1, 1, 1))
    step = 2.0 ** (8.0 - arg)
    gray_mean = ops.mean(grayscale(images), axis=(1, 2, 3))
    contrast_mean = ops.reshape(ops.floor(gray_mean + 0.5), (-1, 1, 1))
    candidates = [
        (AUTO_CONTRAST, _auto_contrast_table(counts, levels)),
        (EQUALIZE, _equalize_table(counts, levels)),
        (INVERT, 255.0 - levels),
        (POSTERIZE, ops.floor(levels / step) * step),
        (SOLARIZE, ops.where(levels < arg, levels, 255.0 - levels)),
        (
            SOLARIZE_ADD,
            ops.where(levels < 128.0, ops.minimum(levels + arg, 255.0), levels),
        ),
        (CONTRAST, _blend_table(contrast_mean, arg, levels)),
        (BRIGHTNESS, _blend_table(0.0, arg, levels)),
    ]
    table = ops.broadcast_to(levels, (ops.shape(images)[0], channels, LEVELS))
    for value, candidate in candidates:
        table = ops.where(code == value, candidate, table)
    return table


def apply_tables(images, tables):
    """`tables[b, c, images[b, y, x, c]]`, one gather for the batch."""
    batch, channels = ops.shape(images)[0], ops.shape(images)[-1]
    offsets = ops.reshape(
        ops.arange(batch * channels, dtype="int32") * LEVELS,
        (batch, 1, 1, channels),
    )
    index = ops.cast(images, "int32") + offsets
    return ops.take(ops.reshape(tables, (-1,)), index)


def smooth(images):
    """Pillow's `ImageFilter.SMOOTH` (3x3, centre 5, others 1, / 13).

    Border pixels keep their value, as in Pillow; the result is rounded.
    """
    height, width = ops.shape(images)[1], ops.shape(images)[2]
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


def _tables(images, codes, args):
    return apply_tables(images, lookup_tables(images, codes, args))


def _blend_with(degenerate_fn):
    def blend(images, args):
        factor = ops.reshape(args, (-1, 1, 1, 1))
        return _blend_table(degenerate_fn(images), factor, images)

    return blend


def apply_pixel_op(images, codes, args, op_prob=1.0):
    """One pixel op (or none) per image.

    Args:
        images: float32 `(B, H, W, C)` with integer values 0..255.
        codes: int `(B,)` op codes of this module (`NONE` for none).
        args: float32 `(B,)`, the op's argument (see `lookup_tables`;
            the enhancement factor for colour and sharpness).
        op_prob: the probability that one image draws a given op; below
            1, each op runs on a sub-batch sized for it
            (`subset.map_subset`).

    Returns:
        float32 `(B, H, W, C)`, integer values 0..255.
    """
    is_table = codes == TABLE_OPS[0]
    for code in TABLE_OPS[1:]:
        is_table = is_table | (codes == code)
    table_prob = min(1.0, op_prob * len(TABLE_OPS))
    images = subset.map_subset(
        _tables, images, is_table, [codes, args], table_prob
    )
    images = subset.map_subset(
        _blend_with(grayscale), images, codes == COLOR, [args], op_prob
    )
    return subset.map_subset(
        _blend_with(smooth), images, codes == SHARPNESS, [args], op_prob
    )
