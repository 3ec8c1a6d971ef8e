"""Batching, shuffling and augmentation of one split: tf.data or numpy.

Every split yields `(images float32 (B, S, S, 3) in 0..255, labels one-hot
float32 (B, K))`, except the official recipe's train split, whose images
stay uint8 (4x fewer bytes to the device, which augments them in the train
step). The train split is shuffled with a seed (a new order each epoch,
the same sequence of orders for the same seed) and, for the light recipe,
augmented on the host; evaluation splits are neither.
"""

import math

import keras
import numpy as np

from keras_snp.data import augment


def tf_split(
    ds,
    *,
    size,
    train,
    recipe,
    image_size,
    batch_size,
    num_classes,
    seed,
    drop_remainder,
    shuffle_buffer,
    shuffle=True,
    whole=False,
):
    """Finishes a tf.data split of `(image (S, S, 3), int label)` examples.

    Args:
        ds: unbatched `tf.data.Dataset` of resized images (any numeric dtype,
            0..255) and integer labels.
        size: number of examples, or None when unknown.
        train: shuffle and augment when true.
        shuffle: false when `ds` is already shuffled (train only).
        whole: the examples are `(canvas, label, (height, width))` whole
            images (`keras_snp.data.whole`); each epoch draws the official
            recipe's random-resized crop of each, resized to `image_size`.
    """
    import tensorflow as tf

    if whole:
        from keras_snp.data import whole as whole_lib

        seeds = tf.data.Dataset.random(
            seed=seed + 7, rerandomize_each_iteration=True
        )

        def crop(example, draw):
            canvas, label, size = example
            pair = tf.stack([draw, tf.constant(seed, "int64")])
            image = whole_lib.random_resized_crop_tf(
                canvas, size, pair, image_size
            )
            return image, label

        ds = tf.data.Dataset.zip((ds, seeds)).map(
            crop, num_parallel_calls=tf.data.AUTOTUNE
        )

    raw = train and recipe == "official"  # augmented on the device

    def to_float(image, label):
        if raw:
            image = tf.cast(tf.clip_by_value(image, 0, 255), "uint8")
        else:
            image = tf.cast(image, "float32")
        return image, tf.cast(label, "int32")

    ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if train and shuffle:
        buffer = shuffle_buffer or size or 10000
        ds = ds.shuffle(buffer, seed=seed, reshuffle_each_iteration=True)
    if train and recipe == "light":
        seeds = tf.data.Dataset.random(
            seed=seed, rerandomize_each_iteration=True
        )

        def light(example, draw):
            image, label = example
            pair = tf.stack([draw, tf.constant(seed, "int64")])
            return augment.light_tf(image, pair, image_size), label

        ds = tf.data.Dataset.zip((ds, seeds)).map(
            light, num_parallel_calls=tf.data.AUTOTUNE
        )
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)

    def one_hot(images, labels):
        return images, tf.one_hot(labels, num_classes, dtype="float32")

    ds = ds.map(one_hot, num_parallel_calls=tf.data.AUTOTUNE)
    if size is not None:
        batches = (
            size // batch_size
            if drop_remainder
            else math.ceil(size / batch_size)
        )
        ds = ds.apply(tf.data.experimental.assert_cardinality(batches))
    return ds.prefetch(tf.data.AUTOTUNE)


class NumpySplit(keras.utils.PyDataset):
    """One split held in memory as numpy arrays, served in batches.

    Works on every backend and without TensorFlow. Randomness (order and
    augmentation) is drawn from `seed`, the epoch and the batch index, so a
    batch is the same whichever worker computes it. `on_epoch_end` (called
    by `fit`, or at the end of a plain `for` loop over the split) moves to
    the next epoch's order.

    Args:
        images: uint8 or float array (N, S, S, 3), values 0..255.
        labels: int array (N,), values in `[0, num_classes)`.
        num_classes: K, the width of the one-hot labels.
        batch_size: examples per batch.
        train: shuffle and augment when true.
        recipe: one of `augment.RECIPES`.
        seed: integer seed.
        drop_remainder: drop the last, smaller batch.

    Example:

    >>> split = NumpySplit(np.zeros((5, 8, 8, 3), "uint8"), np.arange(5),
    ...                    num_classes=5, batch_size=2)
    >>> len(split), split[2][0].shape, split[2][1].shape
    (3, (1, 8, 8, 3), (1, 5))
    """

    def __init__(
        self,
        images,
        labels,
        num_classes,
        batch_size,
        train=False,
        recipe="none",
        seed=0,
        drop_remainder=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.images, self.labels = images, np.asarray(labels, "int64")
        self.num_classes, self.batch_size = int(num_classes), int(batch_size)
        self.train, self.recipe = bool(train), augment.check_recipe(recipe)
        self.seed, self.drop_remainder = int(seed), bool(drop_remainder)
        self.epoch = 0
        self._order = self._make_order()

    def _make_order(self):
        if not self.train:
            return np.arange(len(self.labels))
        rng = np.random.default_rng([self.seed, self.epoch])
        return rng.permutation(len(self.labels))

    def __len__(self):
        n = len(self.labels)
        if self.drop_remainder:
            return n // self.batch_size
        return math.ceil(n / self.batch_size)

    def __getitem__(self, index):
        if index < 0 or index >= len(self):
            raise IndexError(f"batch {index} out of range 0..{len(self) - 1}")
        rows = self._order[
            index * self.batch_size : (index + 1) * self.batch_size
        ]
        labels = np.eye(self.num_classes, dtype="float32")[self.labels[rows]]
        if self.train and self.recipe == "official":
            # Augmented on the device (keras_snp.training.augment).
            images = np.clip(self.images[rows], 0, 255).astype("uint8")
            return images, labels
        images = self.images[rows].astype("float32")
        if self.train and self.recipe == "light":
            rng = np.random.default_rng([self.seed, self.epoch, index])
            images = augment.light_numpy(images, rng)
        return images, labels

    def on_epoch_end(self):
        self.epoch += 1
        self._order = self._make_order()

    def __iter__(self):
        for index in range(len(self)):
            yield self[index]
        self.on_epoch_end()
