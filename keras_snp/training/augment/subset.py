"""Running a per-image op on only the images that drew it.

Each RandAugment op reaches about one image in thirty per slot, so
computing every op for the whole batch and selecting (what Keras's
`RandAugment` does) wastes most of the work. `map_subset` gathers the
selected images into a sub-batch of static size `capacity` (six standard
deviations above the expected count, so that the shapes stay static for
XLA), runs the op there and scatters the results back. Should more images
than `capacity` draw the op (probability below 1e-8 per batch), the
surplus keep their input unchanged.
"""

import math

from keras import ops

SIGMAS = 6.0


def capacity(batch_size, prob, sigmas=SIGMAS):
    """Sub-batch size for a per-image event of probability `prob`."""
    if batch_size is None:
        return None
    spread = sigmas * math.sqrt(batch_size * prob * (1.0 - prob))
    return int(min(batch_size, math.ceil(batch_size * prob + spread) + 1))


def map_subset(fn, images, selected, per_image, prob):
    """`fn` on the images where `selected`, written back into `images`.

    Args:
        fn: `fn(sub_images, *sub_per_image) -> sub_images`.
        images: `(B, ...)` tensor.
        selected: bool `(B,)`.
        per_image: list of `(B, ...)` tensors handed to `fn` row by row.
        prob: the probability that one image is selected (sets the size).

    Returns:
        `images` with the selected rows replaced by `fn`'s output.
    """
    batch = images.shape[0]
    size = capacity(batch, prob)
    if size is None or size >= batch:
        out = fn(images, *per_image)
        mask = ops.reshape(selected, (-1,) + (1,) * (len(images.shape) - 1))
        return ops.where(mask, out, images)
    keys = ops.where(selected, 0, batch) + ops.arange(batch, dtype="int32")
    rows = ops.argsort(keys)[:size]
    sub = ops.take(images, rows, axis=0)
    out = fn(sub, *[ops.take(t, rows, axis=0) for t in per_image])
    valid = ops.take(selected, rows, axis=0)
    valid = ops.reshape(valid, (-1,) + (1,) * (len(images.shape) - 1))
    out = ops.where(valid, out, sub)
    return ops.scatter_update(images, rows[:, None], out)
