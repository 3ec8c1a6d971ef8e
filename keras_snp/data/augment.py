"""Training augmentation recipes, for tf.data pipelines and numpy batches.

Three recipes (`RECIPES`):

- `"none"`: images pass unchanged.
- `"light"`: random horizontal flip and a random shift of up to
  `4 * image_size / 32` pixels (zero padding, then a random crop back to
  `image_size`), drawn per image. This is the lab's flip + ±4 px shift.
- `"official"`: nothing on the host. The SHI-Labs CCT recipe (timm's
  random-resized crop, flip, RandAugment `rand-m9-mstd0.5-inc1`, random
  erasing, MixUp/CutMix, label smoothing) runs on the device, inside the
  compiled train step (`keras_snp.training.augment`); the train split
  carries uint8 images to it.

Images are float32 in 0..255 (uint8 for the official train split); labels
are one-hot float32. TensorFlow is imported only inside the tf.data
functions.
"""

import numpy as np

RECIPES = ("none", "light", "official")


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


def light_tf(image, seed, image_size):
    """Flip + random shift of one float image (H, W, 3) in a tf.data map.

    `seed` is a stateless seed, shape (2,) int.
    """
    import tensorflow as tf

    pad = shift_pixels(image_size)
    seeds = tf.random.experimental.stateless_split(seed, 2)
    padded = tf.pad(image, [[pad, pad], [pad, pad], [0, 0]])
    image = tf.image.stateless_random_crop(
        padded, [image_size, image_size, 3], seed=seeds[0]
    )
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
        crop = padded[i, dy : dy + size, dx : dx + images.shape[2]]
        out[i] = crop[:, ::-1] if flips[i] else crop
    return out
