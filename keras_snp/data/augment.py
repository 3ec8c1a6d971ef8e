"""Training augmentation recipes, for tf.data pipelines and numpy batches.

Three recipes (`RECIPES`):

- `"none"`: images pass unchanged.
- `"light"`: random horizontal flip and a random shift of up to
  `4 * image_size / 32` pixels (zero padding, then a random crop back to
  `image_size`), drawn per image. This is the lab's flip + ±4 px shift.
- `"official"`: the SHI-Labs CCT recipe: the light recipe, then per batch
  RandAugment (2 ops, magnitude 9 of 10, i.e. `factor=0.9`), MixUp
  (alpha 0.8) or CutMix (alpha 1.0), one of the two per batch with
  probability 0.5 each, then random erasing with probability 0.25. Labels
  come out soft (mixed one-hot rows that still sum to 1). Label smoothing
  is the loss's job, not this module's.

Images are float32 in 0..255 throughout; labels are one-hot float32.
TensorFlow is imported only inside the tf.data functions.
"""

import numpy as np

RECIPES = ("none", "light", "official")

RAND_AUGMENT_OPS = 2
RAND_AUGMENT_FACTOR = 0.9
MIXUP_ALPHA = 0.8
CUTMIX_ALPHA = 1.0
MIX_SWITCH_PROB = 0.5
ERASE_PROB = 0.25


def shift_pixels(image_size):
    """The light recipe's maximal shift: 4 px at 32 px, scaled with size."""
    return max(1, int(round(4 * image_size / 32)))


def check_recipe(recipe):
    from keras_snp.utils import UsageError

    if recipe not in RECIPES:
        raise UsageError(
            f"Unknown recipe {recipe!r}: use one of {', '.join(RECIPES)}."
        )
    return recipe


class BatchMixer:
    """The batch-level part of the official recipe, as Keras layers.

    RandAugment, then MixUp or CutMix (one per batch), then random erasing.
    The layers are Keras preprocessing layers, safe inside `tf.data` on any
    backend, and usable on numpy batches outside it.

    Args:
        seed: integer seed of every layer.

    Example:

    >>> mixer = BatchMixer(seed=0)
    >>> images = np.full((4, 8, 8, 3), 100.0, "float32")
    >>> labels = np.eye(2, dtype="float32")[[0, 1, 0, 1]]
    >>> x, y = mixer.numpy(images, labels, np.random.default_rng(0))
    >>> x.shape, y.shape
    ((4, 8, 8, 3), (4, 2))
    """

    def __init__(self, seed=0):
        import keras

        self.rand_augment = keras.layers.RandAugment(
            value_range=(0, 255), num_ops=RAND_AUGMENT_OPS,
            factor=RAND_AUGMENT_FACTOR, seed=seed)
        self.mixup = keras.layers.MixUp(alpha=MIXUP_ALPHA, seed=seed + 1)
        self.cutmix = keras.layers.CutMix(factor=CUTMIX_ALPHA, seed=seed + 2)
        self.erasing = keras.layers.RandomErasing(
            factor=(ERASE_PROB, ERASE_PROB), value_range=(0, 255),
            seed=seed + 3)

    def tf(self, images, labels, switch):
        """Graph version; `switch` is a uniform draw in [0, 1) per batch."""
        import tensorflow as tf

        images = self.rand_augment(images, training=True)
        data = {"images": images, "labels": labels}
        data = tf.cond(
            switch < MIX_SWITCH_PROB,
            lambda: self.mixup(data, training=True),
            lambda: self.cutmix(data, training=True),
        )
        images = self.erasing(data["images"], training=True)
        return images, tf.cast(data["labels"], "float32")

    def numpy(self, images, labels, rng):
        """Eager version on numpy batches; returns numpy arrays."""
        import keras

        def to_np(x):
            return np.asarray(keras.ops.convert_to_numpy(x), "float32")

        images = to_np(self.rand_augment(images, training=True))
        mixer = self.mixup if rng.random() < MIX_SWITCH_PROB else self.cutmix
        data = mixer({"images": images, "labels": labels}, training=True)
        images = to_np(self.erasing(data["images"], training=True))
        return images, to_np(data["labels"])


def light_tf(image, seed, image_size):
    """Flip + random shift of one float image (H, W, 3) in a tf.data map.

    `seed` is a stateless seed, shape (2,) int.
    """
    import tensorflow as tf

    pad = shift_pixels(image_size)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    image = tf.image.stateless_random_crop(
        padded, [image_size, image_size, 3], seed=seeds[0])
    return tf.image.stateless_random_flip_left_right(image, seed=seeds[1])


def light_numpy(images, rng):
    """Flip + random shift of a float batch (B, S, S, 3), per image."""
    size = images.shape[1]
    pad = shift_pixels(size)
    padded = np.pad(images, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    offsets = rng.integers(0, 2 * pad + 1, size=(len(images), 2))
    flips = rng.random(len(images)) < 0.5
    out = np.empty_like(images)
    for i, (dy, dx) in enumerate(offsets):
        crop = padded[i, dy:dy + size, dx:dx + images.shape[2]]
        out[i] = crop[:, ::-1] if flips[i] else crop
    return out
