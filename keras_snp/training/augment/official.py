"""The official CCT training augmentation as one Keras layer."""

import keras
from keras import ops

from keras_snp.training.augment import erasing
from keras_snp.training.augment import geometry
from keras_snp.training.augment import mixing
from keras_snp.training.augment import rand_augment
from keras_snp.training.augment import subset


def _to_uint8(images):
    if images.dtype == "uint8":
        return images
    return ops.cast(ops.clip(ops.round(images), 0.0, 255.0), "uint8")


def augment(images, labels, draws, constants):
    """The recipe's image and label work, given its random draws.

    Args:
        images: uint8 `(B, H, W, 3)`.
        labels: float32 `(B, K)` one-hot rows.
        draws: dict of the samplers' outputs: `crop`, `policy`, `boxes`,
            `noise` and `mixing`.
        constants: `(fill, mean, std, label_smoothing)`, Python tuples
            and floats.

    Returns:
        `(images, labels)`, float32.
    """
    fill = ops.convert_to_tensor(constants[0], "float32")
    images = rand_augment.apply_rand_augment(
        images, draws["crop"], draws["policy"], fill
    )
    finish = subset.compiled(mix_and_erase)
    return finish(
        images,
        labels,
        draws["boxes"],
        draws["noise"],
        draws["mixing"],
        constants[1:],
    )


def mix_and_erase(images, labels, boxes, noise, params, constants):
    """MixUp / CutMix, then random erasing, in the official loader's order:
    timm's `FastCollateMixup` mixes the uint8 batch (rounding the mix back
    to integers) and its prefetcher erases the mixed batch afterwards, so
    an erased box holds noise alone, never half a partner's pixels."""
    mean, std, smoothing = constants
    labels = mixing.smooth_labels(labels, smoothing)
    mixed, labels = mixing.apply_mixing(
        ops.cast(images, "float32"), labels, params
    )
    mixed = ops.round(mixed)
    return erasing.erase_patches(mixed, boxes, noise, mean, std), labels


@keras.saving.register_keras_serializable(package="keras_snp")
class OfficialAugment(keras.layers.Layer):
    """The SHI-Labs CCT recipe (timm's transforms), batched on the device.

    Per image: random-resized crop (scale 0.8-1, ratio 3/4-4/3, back to the
    input size) and horizontal flip, RandAugment `rand-m9-mstd0.5-inc1`;
    then per batch MixUp (Beta(0.8, 0.8)) or CutMix (Beta(1, 1)), one of
    the two with probability 0.5, with labels smoothed by 0.1 and mixed the
    same way; then random erasing of the mixed images (p 0.25, pixel
    mode), the official loader's order. Images stay in 0..255:
    the layer runs before the model's own `ImageNormalization`, so `mean`
    and `std` (the model's) set RandAugment's fill colour and the erasing
    noise. Interpolation is bilinear throughout (timm draws bilinear or
    bicubic), and the crop and the geometric ops share one resampling.

    Args:
        num_classes: K, the width of the label rows.
        mean: the model's three channel means (0..1 scale).
        std: the model's three channel standard deviations (0..1 scale).
        label_smoothing: timm's `smoothing`, applied once, here.
        erase_prob: probability that an image is erased.
        crop: draw the random-resized crop here; False where the host
            already drew it from the whole image (`keras_snp.data.whole`):
            only the flip is drawn then.
        seed: integer seed of the layer's `SeedGenerator`.

    Call arguments:
        images: `(B, H, W, 3)` uint8 or float, values 0..255.
        labels: int `(B,)` class indices or `(B, K)` one-hot rows.
        training: augment only when true; otherwise the images come back
            as float32 and the labels as one-hot rows.

    Returns:
        `(images, labels)`: float32 `(B, H, W, 3)` (erased pixels may leave
        0..255) and float32 `(B, K)` rows summing to 1.

    Example:

    >>> layer = OfficialAugment(num_classes=3, mean=(0.5,) * 3,
    ...                         std=(0.25,) * 3, seed=0)
    >>> images = np.full((4, 8, 8, 3), 100, "uint8")
    >>> x, y = layer(images, np.array([0, 1, 2, 0]), training=True)
    >>> tuple(x.shape), tuple(y.shape)
    ((4, 8, 8, 3), (4, 3))
    """

    def __init__(
        self,
        num_classes,
        mean,
        std,
        label_smoothing=mixing.LABEL_SMOOTHING,
        erase_prob=erasing.ERASE_PROB,
        crop=True,
        seed=None,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if int(num_classes) < 2:
            raise ValueError(
                "`num_classes` must be at least 2. "
                f"Received: num_classes={num_classes}"
            )
        mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(
                "`mean` and `std` must hold three values, `std` positive. "
                f"Received: mean={mean}, std={std}"
            )
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError(
                "`label_smoothing` must be in [0, 1). "
                f"Received: label_smoothing={label_smoothing}"
            )
        if not 0.0 <= erase_prob <= 1.0:
            raise ValueError(
                "`erase_prob` must be in [0, 1]. "
                f"Received: erase_prob={erase_prob}"
            )
        self.num_classes = int(num_classes)
        self.mean, self.std = mean, std
        self.label_smoothing = float(label_smoothing)
        self.erase_prob = float(erase_prob)
        self.crop = bool(crop)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # timm's `img_mean`: the fill colour of the geometric ops.
        self.fill = tuple(float(min(255, round(255 * m))) for m in mean)

    def _one_hot(self, labels):
        if len(labels.shape) == 2:
            return ops.cast(labels, "float32")
        return ops.one_hot(
            ops.cast(labels, "int32"), self.num_classes, dtype="float32"
        )

    def call(self, images, labels, training=False):
        labels = self._one_hot(labels)
        if not training:
            return ops.cast(images, "float32"), labels
        images = _to_uint8(images)
        batch, height, width = images.shape[0], images.shape[1], images.shape[2]
        if batch is None:
            raise ValueError(
                "`OfficialAugment` needs a static batch size (sub-batch "
                "sizes are static). Received: images.shape="
                f"{images.shape}"
            )
        seed = self.seed_generator
        framing = geometry.sample_crop if self.crop else geometry.sample_flip
        draws = {
            "crop": framing(batch, height, width, seed),
            "policy": rand_augment.sample_policy(batch, seed),
            "boxes": erasing.sample_erasing(
                batch, height, width, seed, prob=self.erase_prob
            ),
            "noise": erasing.sample_noise(
                batch, height, width, seed, prob=self.erase_prob
            ),
            "mixing": mixing.sample_mixing(height, width, seed),
        }
        constants = (self.fill, self.mean, self.std, self.label_smoothing)
        return augment(images, labels, draws, constants)

    def compute_output_shape(self, images_shape, labels_shape):
        return tuple(images_shape), (images_shape[0], self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "mean": self.mean,
            "std": self.std,
            "label_smoothing": self.label_smoothing,
            "erase_prob": self.erase_prob,
            "crop": self.crop,
            "seed": self.seed,
        }
