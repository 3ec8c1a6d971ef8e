"""Datasets: tfds CIFAR-100 and Flowers-102, folders, .npz, synthetic.

`load(source, image_size, batch_size, ...)` returns `DataSplits(train,
validation, test, info)`; every split yields float32 RGB images in 0..255
and one-hot labels. TensorFlow is imported only when a tf.data pipeline or
tfds is used, so `synthetic` and `.npz` work on JAX without TensorFlow.

The names below are imported on first use (PEP 562), so the command line
checks a source (`check_source`, `defaults_for`) before Keras starts.
"""

from keras_snp.utils import lazy_exports

_EXPORTS = {
    "RECIPES": "augment",
    "DATASET_DEFAULTS": "info",
    "GENERIC_DEFAULTS": "info",
    "DatasetDefaults": "info",
    "DatasetInfo": "info",
    "DataSplits": "info",
    "NumpySplit": "pipeline",
    "NAMED_SOURCES": "sources",
    "as_numpy": "sources",
    "check_source": "sources",
    "defaults_for": "sources",
    "load": "sources",
    "num_batches": "sources",
    "read_label_names": "sources",
    "source_kind": "sources",
    "steps_per_epoch": "sources",
    "cifar100_label_names": "tfds_source",
}

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
    "check_source",
    "cifar100_label_names",
    "defaults_for",
    "load",
    "num_batches",
    "read_label_names",
    "source_kind",
    "steps_per_epoch",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
