"""`load`: any dataset source -> train / validation / test splits + info.

Sources: `"cifar100"`, `"flowers102"` (TensorFlow Datasets), `"synthetic"`
(generated offline), a folder path, or an `.npz` path. See `load`.
"""

import logging
import math
import os

import numpy as np

from keras_snp.data import arrays as arrays_lib
from keras_snp.data import augment
from keras_snp.data import synthetic
from keras_snp.data.info import DATASET_DEFAULTS
from keras_snp.data.info import GENERIC_DEFAULTS
from keras_snp.utils import UsageError
from keras_snp.utils import check_one_of

logger = logging.getLogger(__name__)

NAMED_SOURCES = ("cifar100", "flowers102", "synthetic")
BACKEND_FORMATS = ("auto", "tf", "numpy")


def _check_int(name, value, minimum):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, np.integer))
        or value < minimum
    ):
        raise UsageError(
            f"`{name}` must be an integer >= {minimum}. "
            f"Received: {name}={value!r}"
        )


def _use_tf(backend_format):
    if backend_format not in BACKEND_FORMATS:
        raise UsageError(
            f"`backend_format` must be one of "
            f"{', '.join(BACKEND_FORMATS)}. "
            f"Received: backend_format={backend_format!r}"
        )
    if backend_format == "numpy":
        return False
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        if backend_format == "tf":
            raise UsageError(
                "backend_format='tf' needs TensorFlow; install "
                "it or use backend_format='numpy'."
            ) from None
        return False
    if backend_format == "tf":
        return True
    import keras

    return keras.backend.backend() == "tensorflow"


def source_kind(source):
    """'cifar100' / 'flowers102' / 'synthetic' / 'folder' / 'npz'."""
    text = os.fspath(source)
    if text in NAMED_SOURCES:
        return text
    if text.lower().endswith(".npz"):
        if not os.path.isfile(text):
            raise UsageError(f"No such .npz file: {text}; check the path.")
        return "npz"
    if os.path.isdir(text):
        return "folder"
    if os.sep in text or text.startswith("."):
        raise UsageError(
            f"Dataset folder {text} does not exist; give a "
            "folder with train/<class>/<images>."
        )
    raise UsageError(
        f"Unknown dataset {text!r}: use one of {', '.join(NAMED_SOURCES)}, "
        "a folder (train/<class>/<images>, optional val/, test/) or an .npz "
        "file (x_train y_train x_test y_test)."
    )


def check_source(source, label_names=None, data_dir=None, download=True):
    """Checks a source without reading its images (fast, no TensorFlow).

    The source's kind must be known, a folder must have `train/<class>/`,
    an `.npz` its four arrays, a tfds dataset must be prepared in
    `data_dir` or downloadable (its host answers); `label_names` (a list)
    are only for folders and `.npz` files, one per class folder. Returns
    the kind.
    """
    kind = source_kind(source)
    if kind in ("cifar100", "flowers102"):
        from keras_snp.data.tfds_source import check_tfds

        check_tfds(kind, data_dir, download)
    elif kind == "npz":
        arrays_lib.open_npz(os.fspath(source))
    elif kind == "folder":
        from keras_snp.data.folder import check_folder

        classes = check_folder(os.fspath(source))
        if label_names is not None and len(label_names) != len(classes):
            raise UsageError(
                f"{len(label_names)} label names for the {len(classes)} "
                f"class folders of {source}: give one name per class."
            )
    if label_names is not None and kind not in ("npz", "folder"):
        raise UsageError(
            f"Label names are for .npz and folder datasets; "
            f"{kind} names its classes itself."
        )
    return kind


def read_label_names(path):
    """Class names from a file: a JSON list, a JSON object holding one
    list (`FILE#KEY` picks one of several, e.g.
    `label_names.json#fine_label_names`), or one name per line."""
    key = None
    if not os.path.exists(path) and "#" in os.path.basename(path):
        path, key = path.rsplit("#", 1)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise UsageError(
            f"Cannot read the label names file {path} ({error.strerror})."
        ) from None
    if text.lstrip()[:1] in ("[", "{"):
        import json

        try:
            names = json.loads(text)
        except ValueError as error:
            raise UsageError(
                f"{path} is not valid JSON ({error}); give a JSON list of "
                "names or one name per line."
            ) from None
        if isinstance(names, dict):
            names = _names_in_object(names, path, key)
    elif key is not None:
        raise UsageError(f"{path}#{key}: #KEY is for JSON objects only.")
    else:
        names = [line.strip() for line in text.splitlines() if line.strip()]
    if not isinstance(names, list) or len(names) < 2:
        raise UsageError(
            f"{path} must list at least two class names (a "
            "JSON list or one name per line)."
        )
    return [str(n) for n in names]


def _names_in_object(data, path, key):
    """The list of names a JSON object holds: `key`, or its only list."""
    lists = sorted(k for k, v in data.items() if isinstance(v, list))
    if key is not None:
        if key not in lists:
            raise UsageError(
                f"{path} has no list {key!r}; its lists: "
                f"{', '.join(lists) or 'none'}."
            )
        return data[key]
    if len(lists) == 1:
        return data[lists[0]]
    raise UsageError(
        f"{path} is a JSON object with "
        + (
            f"several lists ({', '.join(lists)}): pick one with "
            f"{path}#{max(lists, key=lambda k: len(data[k]))}."
            if lists
            else "no list of names: give a JSON list or one name per line."
        )
    )


def defaults_for(source):
    """The `DatasetDefaults` of a source (generic ones for folders/npz)."""
    return DATASET_DEFAULTS.get(os.fspath(source), GENERIC_DEFAULTS)


def load(
    source,
    image_size,
    batch_size,
    *,
    recipe="light",
    validation_fraction=0.1,
    seed=0,
    data_dir=None,
    download=True,
    num_classes=None,
    examples_per_class=None,
    shuffle_buffer=None,
    drop_remainder=False,
    backend_format="auto",
    label_names=None,
    allow_empty_classes=False,
    test_split=None,
):
    """Loads a dataset as train / validation / test splits of batches.

    Every split yields `(images, labels)`: float32 images
    `(B, image_size, image_size, 3)` with values in 0..255 and one-hot
    float32 labels `(B, K)` (soft rows after MixUp / CutMix). The train
    split is shuffled (seeded, a new order each epoch) and augmented by
    `recipe`; validation and test are neither. Images of any size are
    resized so that the shorter side is `image_size` (aspect kept,
    antialiased bilinear), then centre-cropped; grayscale and RGBA become
    RGB (alpha over white).

    Args:
        source: `"cifar100"` (tfds; validation = a seeded
            `validation_fraction` of train), `"flowers102"` (tfds
            `oxford_flowers102`, its own three splits), `"synthetic"`
            (offline, deterministic by `seed`), a folder (`train/`, optional
            `val/` or `validation/` and `test/`, one sub-folder per class,
            classes in natural order; no `val/`: a seeded fraction of train;
            no `test/`: refused unless `test_split` is given), or an
            `.npz` file (`x_train y_train x_test y_test`, optional `x_val
            y_val label_names`).
        image_size: side of the square images, >= 1.
        batch_size: examples per batch, >= 1.
        recipe: training augmentation, one of `RECIPES`.
        validation_fraction: share of train held out as validation where a
            source has no validation split, in [0, 1).
        seed: integer seed of splits, order, augmentation and synthetic data.
        data_dir: tfds data folder (tfds's default when None).
        download: let tfds download and prepare a missing dataset.
        num_classes: K. Synthetic: the number of classes (default 10).
            npz: K when some classes have no examples. tfds / folder: a
            check (error when it differs).
        examples_per_class: keep only this many train examples per class
            (synthetic: examples generated per class, default 100).
        shuffle_buffer: tf.data shuffle buffer of tfds sources (default
            min(train size, 10000)); in-memory sources shuffle fully.
        drop_remainder: drop the last, smaller train batch.
        backend_format: `"auto"` (tf.data when TensorFlow is importable and
            the Keras backend is TensorFlow, else numpy), `"tf"` or
            `"numpy"` (a `keras.utils.PyDataset` per split; tfds sources
            need `"tf"`/`"auto"` with TensorFlow).
        label_names: class names (a list) replacing those of a folder or
            an `.npz` (see `read_label_names`).
        allow_empty_classes: accept classes with no training image (an
            empty class folder, or a label of an `.npz` that no training
            image has); refused otherwise. tfds sources ignore it.
        test_split: only for a folder without `test/`: what to score on,
            `"train"` (a seeded 10 % of train held out as test) or
            `"validation"` (the validation split, which then also chooses
            the pruning masks). A source with its own test split refuses
            it.

    Returns:
        A `DataSplits(train, validation, test, info)`.

    Raises:
        UsageError: with one line naming the fix, for bad input: also, for
            folders, `.npz` files and synthetic data, before any training,
            labels beyond the classes of the train split (unless
            `num_classes` or `label_names` say there are more), NaN or
            Inf pixels, a class with no training image and an empty
            validation or test split that was given.

    Example:

    >>> splits = load("synthetic", 16, 8, examples_per_class=4,
    ...               backend_format="numpy")
    >>> images, labels = next(iter(splits.train))
    >>> images.shape, labels.shape, splits.info.num_classes
    ((8, 16, 16, 3), (8, 10), 10)
    """
    _check_int("image_size", image_size, 1)
    _check_int("batch_size", batch_size, 1)
    augment.check_recipe(recipe)
    if not 0 <= validation_fraction < 1:
        raise UsageError(
            "`validation_fraction` must be in [0, 1). "
            f"Received: validation_fraction={validation_fraction}"
        )
    if num_classes is not None:
        _check_int("num_classes", num_classes, 2)
    if examples_per_class is not None:
        _check_int("examples_per_class", examples_per_class, 1)
    kind = check_source(source, label_names, data_dir, download)
    if test_split is not None:
        check_one_of("test_split", test_split, arrays_lib.TEST_SPLITS)
        if kind != "folder":
            raise UsageError(
                f"{source} has its own test split; drop test_split="
                f"{test_split!r}."
            )
    use_tf = _use_tf(backend_format)
    common = {
        "image_size": image_size,
        "batch_size": batch_size,
        "recipe": recipe,
        "validation_fraction": validation_fraction,
        "seed": seed,
        "drop_remainder": drop_remainder,
        "shuffle_buffer": shuffle_buffer,
    }
    if kind in ("cifar100", "flowers102"):
        if not use_tf:
            raise UsageError(
                f"{kind} is read through tensorflow-datasets: "
                "install TensorFlow and use backend_format="
                "'auto' or 'tf', or pass an .npz / folder."
            )
        from keras_snp.data.tfds_source import load_tfds

        return load_tfds(
            kind,
            data_dir=data_dir,
            download=download,
            num_classes=num_classes,
            examples_per_class=examples_per_class,
            **common,
        )
    extra = {}
    if kind == "synthetic":
        k = num_classes or synthetic.DEFAULT_CLASSES
        per_class = examples_per_class or synthetic.DEFAULT_TRAIN_PER_CLASS
        evals = max(2, min(synthetic.DEFAULT_EVAL_PER_CLASS, per_class))
        data = {
            split: synthetic.generate(k, n, image_size, seed, stream)
            for stream, (split, n) in enumerate(
                [("train", per_class), ("validation", evals), ("test", evals)]
            )
        }
        names, name = [f"class_{c}" for c in range(k)], "synthetic"
        examples_per_class = None
    elif kind == "npz":
        data, names = arrays_lib.load_npz(os.fspath(source), image_size)
        names = label_names or names
        name = os.path.splitext(os.path.basename(os.fspath(source)))[0]
    else:
        from keras_snp.data.folder import load_folder

        data, names, skipped, corrupt, train_sizes = load_folder(
            os.fspath(source),
            image_size,
            allow_empty_classes=allow_empty_classes,
            whole_train=recipe == "official",
        )
        if num_classes is not None and num_classes != len(names):
            raise UsageError(
                f"{source} has {len(names)} class folders, not num_classes="
                f"{num_classes}; drop num_classes or fix the folders."
            )
        name = os.path.basename(os.path.normpath(os.fspath(source)))
        extra = {
            "skipped_files": skipped,
            "corrupt_files": corrupt,
            "test_split": test_split,
            "train_sizes": train_sizes,
        }
        names = label_names or names
    return arrays_lib.array_splits(
        data,
        name=name,
        source=os.fspath(source),
        label_names=names,
        num_classes=num_classes,
        examples_per_class=examples_per_class,
        use_tf=use_tf,
        allow_empty_classes=allow_empty_classes,
        **common,
        **extra,
    )


def num_batches(split):
    """Batches per epoch of a split, or None when unknown (or split None)."""
    if split is None:
        return None
    if hasattr(split, "cardinality"):
        n = int(split.cardinality())
        return n if n >= 0 else None
    try:
        return len(split)
    except TypeError:
        return None


def as_numpy(split, max_batches=None):
    """Yields a split's batches as numpy `(images, labels)` pairs.

    Accepts any iterable of `(images, labels)` batches: a `tf.data.Dataset`,
    a `keras.utils.PyDataset` or a list of numpy pairs. Labels come out as
    given (one-hot or int).
    """
    import keras

    if isinstance(split, keras.utils.PyDataset):
        total = (
            len(split) if max_batches is None else min(max_batches, len(split))
        )
        batches = (split[i] for i in range(total))
    elif hasattr(split, "as_numpy_iterator"):
        batches = split.as_numpy_iterator()
    else:
        batches = iter(split)
    for i, (images, labels) in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            return
        yield (
            np.asarray(keras.ops.convert_to_numpy(images)),
            np.asarray(keras.ops.convert_to_numpy(labels)),
        )


def steps_per_epoch(size, batch_size, drop_remainder=False):
    """Batches in a split of `size` examples."""
    if size is None:
        return None
    return (
        size // batch_size if drop_remainder else math.ceil(size / batch_size)
    )
