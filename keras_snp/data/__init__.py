"""Datasets: tfds CIFAR-100 and Flowers-102, folders, .npz, synthetic.

`load(source, image_size, batch_size, ...)` returns `DataSplits(train,
validation, test, info)`; every split yields float32 RGB images in 0..255
and one-hot labels. TensorFlow is imported only when a tf.data pipeline or
tfds is used, so `synthetic` and `.npz` work on JAX without TensorFlow.
"""

from keras_snp.data.augment import RECIPES
from keras_snp.data.info import DATASET_DEFAULTS
from keras_snp.data.info import GENERIC_DEFAULTS
from keras_snp.data.info import DatasetDefaults
from keras_snp.data.info import DatasetInfo
from keras_snp.data.info import DataSplits
from keras_snp.data.pipeline import NumpySplit
from keras_snp.data.sources import NAMED_SOURCES
from keras_snp.data.sources import as_numpy
from keras_snp.data.sources import defaults_for
from keras_snp.data.sources import load
from keras_snp.data.sources import num_batches
from keras_snp.data.sources import source_kind
from keras_snp.data.sources import steps_per_epoch
from keras_snp.data.tfds_source import cifar100_label_names

__all__ = [
    "DATASET_DEFAULTS",
    "GENERIC_DEFAULTS",
    "NAMED_SOURCES",
    "RECIPES",
    "DataSplits",
    "DatasetDefaults",
    "DatasetInfo",
    "NumpySplit",
    "as_numpy",
    "cifar100_label_names",
    "defaults_for",
    "load",
    "num_batches",
    "source_kind",
    "steps_per_epoch",
]
