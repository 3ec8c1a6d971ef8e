"""The official CCT augmentation as batched `keras.ops`, on the device.

timm's training transforms (`RandomResizedCropAndInterpolation`, flip,
RandAugment `rand-m9-mstd0.5-inc1`, `RandomErasing`, `Mixup` with label
smoothing) rewritten op by op for whole batches, with per-image randomness
from a `keras.random.SeedGenerator`, so they run inside a compiled train
step on TensorFlow and JAX. `OfficialAugment` composes them; the sampling
functions are separate so their statistics can be checked cheaply.
"""

from keras_snp.training.augment.erasing import sample_erasing
from keras_snp.training.augment.geometry import sample_crop
from keras_snp.training.augment.mixing import sample_mixing
from keras_snp.training.augment.official import OfficialAugment
from keras_snp.training.augment.rand_augment import OP_NAMES
from keras_snp.training.augment.rand_augment import POLICY
from keras_snp.training.augment.rand_augment import sample_policy

__all__ = [
    "OP_NAMES",
    "OfficialAugment",
    "POLICY",
    "sample_crop",
    "sample_erasing",
    "sample_mixing",
    "sample_policy",
]
