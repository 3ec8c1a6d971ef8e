"""Running a per-image op on only the images that drew it.

Each RandAugment op reaches about one image in thirty per slot, so
computing every op for the whole batch and selecting (what Keras's
`RandAugment` does) wastes most of the work. `select` picks the images
that drew an op into a sub-batch of static size `capacity` (six standard
deviations above the expected count, so that the shapes stay static for
XLA); the op runs there, and `merge` reads each selected image's result
back by its position in the sub-batch, one gather that XLA fuses into the
next elementwise pass (no scatter). Should more images than `capacity`
draw the op (probability below 1e-8 per batch), the surplus keep their
input unchanged.
"""

import math

import keras
from keras import ops

SIGMAS = 6.0
_STAGES = {}


def _touch(tensor, flag):
    # `tensor` with its first element zeroed where `flag` (never, at run
    # time; XLA cannot know that).
    start = [0] * len(tensor.shape)
    corner = ops.slice(tensor, start, [1] * len(tensor.shape))
    corner = ops.where(flag, ops.zeros_like(corner), corner)
    return ops.slice_update(tensor, start, corner)


def materialize(tensors):
    """`tensors`, computed once before any consumer reads them.

    XLA fuses a producer into each consumer and recomputes it per element
    read; behind a gather (a lookup table, a sub-batch read back by
    `merge`, an image resampled by `warp`) that means recomputing a whole
    table or image per pixel. XLA's CPU compiler drops
    `optimization_barrier`, so the tensors pass through a loop of one
    iteration whose count is read from the data, which nothing can fuse
    across.
    """
    flat = keras.tree.flatten(tensors)
    probe = ops.cast(ops.reshape(flat[0], (-1,))[0], "float32")
    count = 1 + ops.cast(ops.isnan(probe), "int32")

    def cond(step, *values):
        return step < count

    def body(step, *values):
        flag = step > count
        return (step + 1, *[_touch(value, flag) for value in values])

    out = ops.while_loop(cond, body, (ops.zeros((), "int32"), *flat))
    return keras.tree.pack_sequence_as(tensors, list(out[1:]))


def settle(batch):
    """`batch` computed once under `jax.jit` (rewrites its first row with
    itself: a scatter, whose operand XLA must materialise); `batch`
    unchanged on TensorFlow, where each stage is its own computation."""
    if keras.backend.backend() == "tensorflow":
        return batch
    first = ops.zeros((1, 1), "int32")
    return ops.scatter_update(batch, first, batch[:1])


def compiled(fn):
    """`fn` as its own XLA computation on TensorFlow, else `fn`.

    The TensorFlow train step of the augmented model runs as a plain graph
    (as `keras_snp.run.fit` compiles it), so plain TF ops would each make
    a full pass over the batch; these stages are its XLA islands, and
    their outputs are computed once. Under `jax.jit` the stages are one
    XLA computation; the small tensors read through gathers (tables,
    sub-batches) pass through `materialize` there instead.
    """
    if keras.backend.backend() != "tensorflow":
        return fn
    if fn not in _STAGES:
        import tensorflow as tf

        _STAGES[fn] = tf.function(fn, jit_compile=True, autograph=False)
    return _STAGES[fn]


def capacity(batch_size, prob, sigmas=SIGMAS):
    """Sub-batch size for a per-image event of probability `prob`."""
    if batch_size is None:
        return None
    spread = sigmas * math.sqrt(batch_size * prob * (1.0 - prob))
    size = math.ceil(batch_size * prob + spread) + 1
    return max(1, int(min(batch_size, size)))


def select(selected, prob, sigmas=SIGMAS):
    """The sub-batch of the images where `selected`.

    Args:
        selected: bool `(B,)` with a static `B`.
        prob: the probability that one image is selected (sets the size).
        sigmas: the size's margin above the expected count.

    Returns:
        `(rows, pos, hit)`: int32 `(S,)` batch rows of the sub-batch (the
        selected ones first, in batch order), int32 `(B,)` each image's
        position in the sub-batch, and bool `(B,)` whether the image is
        selected and got a place.
    """
    batch = selected.shape[0]
    size = capacity(batch, prob, sigmas)
    keys = ops.where(selected, 0, batch) + ops.arange(batch, dtype="int32")
    rows = ops.argsort(keys)[:size]
    rank = ops.cumsum(ops.cast(selected, "int32")) - 1
    hit = selected & (rank < size)
    return rows, ops.clip(rank, 0, size - 1), hit


def merge(images, sub, pos, hit, rows=None):
    """`images` with each hit row replaced by its row of `sub`.

    A gather (`pos`) that XLA fuses into the next pass; under `jax.jit`
    with `rows` given, a scatter instead, whose output XLA computes once
    (a fused gather there would recompute everything before it).
    """
    shape = (-1,) + (1,) * (len(images.shape) - 1)
    if keras.backend.backend() != "tensorflow":
        sub = materialize(sub)
        if rows is not None:
            valid = ops.reshape(ops.take(hit, rows, axis=0), shape)
            current = ops.take(images, rows, axis=0)
            update = ops.where(valid, sub, current)
            return ops.scatter_update(images, rows[:, None], update)
    mask = ops.reshape(hit, shape)
    return ops.where(mask, ops.take(sub, pos, axis=0), images)


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
    rows, pos, hit = select(selected, prob)
    sub = ops.take(images, rows, axis=0)
    out = fn(sub, *[ops.take(t, rows, axis=0) for t in per_image])
    out = ops.cast(out, images.dtype)
    return compiled(merge)(images, out, pos, hit, rows)
