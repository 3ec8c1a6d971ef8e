"""What `load` returns (`DataSplits`, `DatasetInfo`), dataset defaults."""

import dataclasses

from keras_snp.constants import CIFAR_MEAN
from keras_snp.constants import CIFAR_STD
from keras_snp.constants import FLOWERS_MEAN
from keras_snp.constants import FLOWERS_STD
from keras_snp.constants import IMAGENET_MEAN
from keras_snp.constants import IMAGENET_STD
from keras_snp.constants import SYNTHETIC_MEAN
from keras_snp.constants import SYNTHETIC_STD


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Facts about a loaded dataset, written into `run.json`.

    Args:
        name: dataset name (`cifar100`, `flowers102`, `synthetic`, or the
            folder / npz file name).
        num_classes: K.
        label_names: K names, index = label.
        split_sizes: examples per split, `{"train", "validation", "test"}`,
            None where unknown.
        image_size: side of the square images the splits yield.
        source: what was asked for (dataset name or path).
        skipped_files: non-image files skipped in a folder source.
        corrupt_files: unreadable images skipped (relative paths).
        notes: anything the user should know (e.g. test = validation).
        whole_image_crop: the train split's images are already the
            official recipe's random-resized crop, drawn on the host from
            the whole image (`keras_snp.data.whole`); the device only
            flips.
    """

    name: str
    num_classes: int
    label_names: list
    split_sizes: dict
    image_size: int
    source: str
    skipped_files: int = 0
    corrupt_files: tuple = ()
    notes: tuple = ()
    whole_image_crop: bool = False

    def to_dict(self):
        """A JSON-ready dict."""
        out = dataclasses.asdict(self)
        out["label_names"] = list(self.label_names)
        out["corrupt_files"] = list(self.corrupt_files)
        out["notes"] = list(self.notes)
        return out


@dataclasses.dataclass(frozen=True)
class DataSplits:
    """Train, validation and test splits and their `DatasetInfo`.

    Each split is an iterable of `(images float32 (B, S, S, 3) in 0..255,
    labels one-hot float32 (B, K))` batches: a `tf.data.Dataset` or a
    `keras.utils.PyDataset`. `validation` is None only when a source has
    none and `validation_fraction=0`.
    """

    train: object
    validation: object
    test: object
    info: DatasetInfo


@dataclasses.dataclass(frozen=True)
class DatasetDefaults:
    """Training defaults of a named dataset (METHOD.md section 5).

    `learning_rate`, `weight_decay`, `batch_size` and `epochs` are for
    AdamW with a cosine schedule; `mean` / `std` are the normalisation
    constants of `ImageNormalization` (images scaled to 0..1). The field
    defaults are CIFAR-100's: the official CCT-7/3x1 recipe.
    """

    variant: str = "cct_7_3x1"
    image_size: int = 32
    recipe: str = "official"
    learning_rate: float = 6e-4
    weight_decay: float = 6e-2
    batch_size: int = 128
    epochs: int = 300
    warmup_epochs: int = 10
    mean: tuple = CIFAR_MEAN
    std: tuple = CIFAR_STD

    def to_dict(self):
        return dataclasses.asdict(self)


CIFAR100_DEFAULTS = DatasetDefaults()

# The other datasets, as what differs from CIFAR-100. Flowers-102: the
# official CCT-7/7x2 recipe uses lr 5e-4 and batch 96; we keep the CIFAR
# weight decay 6e-2 for it as well.
DATASET_DEFAULTS = {
    "cifar100": CIFAR100_DEFAULTS,
    "flowers102": dataclasses.replace(
        CIFAR100_DEFAULTS,
        variant="cct_7_7x2",
        image_size=224,
        learning_rate=5e-4,
        batch_size=96,
        mean=FLOWERS_MEAN,
        std=FLOWERS_STD,
    ),
    "synthetic": dataclasses.replace(
        CIFAR100_DEFAULTS,
        variant="cct_2_3x2",
        recipe="light",
        learning_rate=1e-3,
        weight_decay=3e-2,
        batch_size=64,
        epochs=2,
        warmup_epochs=0,
        mean=SYNTHETIC_MEAN,
        std=SYNTHETIC_STD,
    ),
}

# Folders and npz files: the CIFAR-100 recipe shape at the data's size,
# ImageNet normalisation (photographs).
GENERIC_DEFAULTS = dataclasses.replace(
    CIFAR100_DEFAULTS, mean=IMAGENET_MEAN, std=IMAGENET_STD
)
