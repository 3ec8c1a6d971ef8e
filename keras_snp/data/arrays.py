"""In-memory sources: numpy images and labels -> `DataSplits`.

The `.npz`, folder and synthetic sources all end here. Images are brought to
RGB uint8 at `image_size` once, up front: the shorter side is resized to
`image_size` (aspect kept, antialiased bilinear), then the centre square is
cropped. Grayscale is repeated to three channels; an alpha channel is
composited over white.
"""

import logging
import os

import numpy as np

from keras_snp.data.info import DatasetInfo
from keras_snp.data.info import DataSplits
from keras_snp.utils import UsageError
from keras_snp.utils import check_one_of

logger = logging.getLogger(__name__)

NPZ_REQUIRED = ("x_train", "y_train", "x_test", "y_test")
# How to fill (or leave out) an explicitly given split that has no image.
EMPTY_SPLIT_FIXES = {
    "npz": {
        "validation": "add images to x_val / y_val, or drop both to split "
        "validation off train",
        "test": "add images to x_test / y_test",
    },
    "folder": {
        "validation": "add images to its class folders, or remove val/ "
        "(validation/) to split validation off train",
        "test": "add images to test/<class>/, or remove test/ to test on "
        "the validation split",
    },
}


def to_rgb_pil(image):
    """An RGB PIL image; transparency composited over white."""
    from PIL import Image

    if image.mode in ("RGBA", "LA") or (
        image.mode == "P" and "transparency" in image.info
    ):
        rgba = image.convert("RGBA")
        image = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image.alpha_composite(rgba)
    return image.convert("RGB")


def resize_pil(image, image_size):
    """Shorter side to `image_size`, then centre crop; RGB PIL image out."""
    from PIL import Image

    image = to_rgb_pil(image)
    width, height = image.size
    if (width, height) != (image_size, image_size):
        scale = image_size / min(width, height)
        new_w = max(image_size, round(width * scale))
        new_h = max(image_size, round(height * scale))
        image = image.resize((new_w, new_h), Image.BILINEAR, reducing_gap=None)
        left, top = (new_w - image_size) // 2, (new_h - image_size) // 2
        image = image.crop((left, top, left + image_size, top + image_size))
    return image


def centre_squares(canvases, sizes, image_size):
    """The evaluation transform (shorter side, centre crop) of whole-image
    canvases (`keras_snp.data.whole`) whose images are `sizes` high and
    wide."""
    from PIL import Image

    out = np.zeros((len(canvases), image_size, image_size, 3), "uint8")
    for i, (canvas, (height, width)) in enumerate(zip(canvases, sizes)):
        region = Image.fromarray(canvas[:height, :width])
        out[i] = np.asarray(resize_pil(region, image_size), "uint8")
    return out


def to_rgb_uint8(images, image_size, what="x"):
    """(N, H, W[, C]) array, C in 1, 3, 4 -> uint8 (N, S, S, 3)."""
    from PIL import Image

    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise UsageError(
            f"`{what}` must hold images shaped (N, H, W), (N, H, W, 1), "
            f"(N, H, W, 3) or (N, H, W, 4); got shape {images.shape}."
        )
    check_finite(images, what)
    if images.dtype != np.uint8:
        images = images.astype("float32")
        if images.size and float(images.max()) <= 1.0:
            logger.warning(
                "`%s` looks scaled to 0..1: multiplying by 255.", what
            )
            images = images * 255.0
        images = np.clip(np.rint(images), 0, 255).astype("uint8")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    if images.shape[1:] == (image_size, image_size, 3):
        return np.ascontiguousarray(images)
    out = np.empty((len(images), image_size, image_size, 3), "uint8")
    for i, image in enumerate(images):
        mode = "RGBA" if image.shape[-1] == 4 else "RGB"
        out[i] = np.asarray(
            resize_pil(Image.fromarray(image, mode), image_size)
        )
    return out


def check_finite(images, what):
    """Refuses float images holding NaN or Inf (a cast would turn them
    into arbitrary pixels, with only a numpy warning)."""
    if images.dtype.kind != "f" or np.isfinite(images).all():
        return
    bad = ~np.isfinite(images)
    count = int(np.count_nonzero(bad))
    in_images = int(np.count_nonzero(bad.reshape(len(images), -1).any(1)))
    raise UsageError(
        f"`{what}` has {count} non-finite values (NaN or Inf) in "
        f"{in_images} of its {len(images)} images: replace them (e.g. "
        "np.nan_to_num) or drop those images."
    )


def to_int_labels(labels, what="y"):
    """Int labels (N,) from int (N,), (N, 1) or one-hot (N, K) arrays."""
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] > 1:
        labels = labels.argmax(axis=1)
    labels = labels.reshape(-1) if labels.ndim == 2 else labels
    if labels.ndim != 1:
        raise UsageError(
            f"`{what}` must be labels shaped (N,) or one-hot "
            f"(N, K); got shape {labels.shape}."
        )
    if labels.size and not np.all(np.equal(np.mod(labels, 1), 0)):
        raise UsageError(
            f"`{what}` holds non-integer labels; give class indices 0..K-1."
        )
    return labels.astype("int64")


def check_labels(labels, num_classes, what):
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise UsageError(
            f"Labels of {what} span {labels.min()}..{labels.max()} but "
            f"there are {num_classes} classes (valid 0..{num_classes - 1}); "
            "fix the labels or pass `num_classes` / `label_names`."
        )


def listed_classes(classes, label_names, shown=5):
    """'1 'dog', 3 'eel', ...': the first `shown` classes, named."""
    words = [
        f"{c} {label_names[c]!r}" if label_names else str(c)
        for c in classes[:shown]
    ]
    return ", ".join(words) + (", ..." if len(classes) > shown else "")


def check_split_labels(
    labels, *, source, num_classes, label_names, allow_empty_classes=False
):
    """The class count K of `labels` (`{split: int labels}`), after the
    checks that need no image.

    K is `num_classes`, else the number of `label_names`, else the classes
    the train split uses (0..max). Refused: an empty train split, or an
    empty validation / test split (given, so a stage needs it); labels
    outside 0..K-1; a class with no training image, unless
    `allow_empty_classes`.
    """
    if labels["train"].size == 0:
        raise UsageError(f"{source}: the train split is empty; add images.")
    kind = "npz" if os.fspath(source).lower().endswith(".npz") else "folder"
    for split, fix in EMPTY_SPLIT_FIXES[kind].items():
        if split in labels and labels[split].size == 0:
            raise UsageError(
                f"the {split} split of {source} is empty (0 images): {fix}."
            )
    train = labels["train"]
    if num_classes is None and label_names:
        num_classes = len(label_names)
    if num_classes is None:
        num_classes = 1 + int(train.max())
        check_labels(train, num_classes, "the train split")
        for split, y in labels.items():
            outside = y[(y < 0) | (y >= num_classes)]
            if outside.size:
                low, high = int(outside.min()), int(outside.max())
                where = "beyond" if low >= num_classes else "outside"
                raise UsageError(
                    f"the {split} split has {outside.size} images with "
                    f"labels {low}..{high}, {where} the classes of the "
                    f"train split (0..{num_classes - 1}): fix the labels, "
                    "or pass `num_classes` / `label_names` if there are "
                    "more classes."
                )
    else:
        if label_names and len(label_names) != num_classes:
            raise UsageError(
                f"There are {len(label_names)} label names for "
                f"{num_classes} classes; give one name per class."
            )
        found = 1 + max(int(y.max()) for y in labels.values())
        if num_classes > found and not allow_empty_classes:
            # a names file read wrongly (or one for another dataset) would
            # otherwise add classes that no image has
            raise UsageError(
                f"There are {num_classes} classes but the labels use only "
                f"0..{found - 1} ({found}); give one name per class that "
                "occurs (or check `label_names` / `num_classes`)."
            )
        for split, y in labels.items():
            check_labels(y, num_classes, f"the {split} split")
    counts = np.bincount(train, minlength=num_classes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        listed = listed_classes(empty, label_names)
        if not allow_empty_classes:
            raise UsageError(
                f"the train split has no images of {empty.size} of the "
                f"{num_classes} classes ({listed}): add images of them, or "
                "pass `allow_empty_classes=True` to accept classes with no "
                "training image."
            )
        logger.warning(
            "the train split has no images of %d of the %d classes (%s): "
            "accepted (allow_empty_classes).",
            empty.size,
            num_classes,
            listed,
        )
    return num_classes


def split_off(labels, fraction, seed):
    """Seeded random split of row indices: (kept, split_off)."""
    rng = np.random.default_rng([seed, 1])
    order = rng.permutation(len(labels))
    count = int(round(len(labels) * fraction))
    return np.sort(order[count:]), np.sort(order[:count])


def limit_per_class(labels, examples_per_class):
    """Indices of the first `examples_per_class` rows of each class."""
    keep = []
    for c in np.unique(labels):
        keep.extend(np.flatnonzero(labels == c)[:examples_per_class])
    return np.sort(np.asarray(keep, "int64"))


def open_npz(path):
    """Opens an `.npz` and checks its keys; reads no array (fast)."""
    try:
        data = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UsageError(
            f"Cannot read {path} as an .npz file ({error}); "
            "save it with numpy.savez."
        ) from None
    missing = [k for k in NPZ_REQUIRED if k not in data.files]
    if missing:
        raise UsageError(
            f"{path} lacks {', '.join(missing)}: an .npz needs x_train "
            "y_train x_test y_test (optional x_val y_val label_names)."
        )
    if ("x_val" in data.files) != ("y_val" in data.files):
        raise UsageError(
            f"{path} has only one of x_val / y_val: give both or neither."
        )
    return data


def npz_keys(data):
    """`{split: (images key, labels key)}` of an opened `.npz`."""
    splits = {"train": ("x_train", "y_train"), "test": ("x_test", "y_test")}
    if "x_val" in data.files:
        splits["validation"] = ("x_val", "y_val")
    return splits


def npz_label_names(data):
    if "label_names" not in data.files:
        return None
    return [str(n) for n in np.asarray(data["label_names"]).reshape(-1)]


def check_npz_labels(
    path, *, num_classes=None, label_names=None, allow_empty_classes=False
):
    """`check_split_labels` of an `.npz`'s labels (reads no image: fast,
    so the command line refuses bad labels before TensorFlow starts)."""
    data = open_npz(path)
    labels = {
        split: to_int_labels(data[yk], yk)
        for split, (_, yk) in npz_keys(data).items()
    }
    check_split_labels(
        labels,
        source=path,
        num_classes=num_classes,
        label_names=label_names or npz_label_names(data),
        allow_empty_classes=allow_empty_classes,
    )


def load_npz(path, image_size):
    """Reads an `.npz`: returns (arrays {split: (x, y)}, label_names)."""
    data = open_npz(path)
    arrays = {}
    for split, (xk, yk) in npz_keys(data).items():
        x, y = data[xk], to_int_labels(data[yk], yk)
        if len(x) != len(y):
            raise UsageError(
                f"{path}: {xk} has {len(x)} images but {yk} "
                f"has {len(y)} labels; they must match."
            )
        arrays[split] = (to_rgb_uint8(x, image_size, xk), y)
    return arrays, npz_label_names(data)


TEST_SPLITS = ("validation", "train")
TEST_FRACTION = 0.1


def _held_out_test(
    source, arrays, y, rows, eval_images, test_split, notes, seed
):
    """What a source without a test split scores on; returns the train
    `rows` that stay train."""
    if test_split is None:
        raise UsageError(
            f"{source} has no test split: add test/<class>/ images, or "
            "pass test_split='train' (a seeded held-out share of train) or "
            "test_split='validation' (scores on the split that chooses "
            "the masks)."
        )
    check_one_of("test_split", test_split, TEST_SPLITS)
    if test_split == "validation":
        arrays["test"] = None
        notes.append("no test split: test = validation (test_split)")
        logger.warning(
            "%s has no test split: test metrics are computed on the "
            "validation split, which also chooses the pruning masks.",
            source,
        )
        return rows
    kept, held = split_off(y[rows], TEST_FRACTION, seed + 1)
    arrays["test"] = (eval_images(rows[held]), y[rows[held]])
    notes.append(f"test = a seeded {TEST_FRACTION:.0%} of train (test_split)")
    return rows[kept]


def array_splits(
    arrays,
    *,
    name,
    source,
    label_names,
    num_classes,
    image_size,
    batch_size,
    recipe,
    validation_fraction,
    seed,
    examples_per_class,
    drop_remainder,
    shuffle_buffer,
    use_tf,
    skipped_files=0,
    corrupt_files=(),
    notes=(),
    allow_empty_classes=False,
    test_split=None,
    train_sizes=None,
):
    """Checks labels and builds the three splits from numpy arrays.

    Args:
        arrays: `{"train": (x, y), "test": (x, y)[, "validation": ...]}`,
            images uint8 (N, S, S, 3), labels int (N,). A missing
            validation split is split off train (`validation_fraction`,
            seeded). A missing test split is refused unless `test_split`
            says what to score on: `"validation"` (the validation split,
            which also chooses the pruning masks) or `"train"` (a seeded
            10 % of train, held out before validation is).
        allow_empty_classes: accept classes with no training image (see
            `check_split_labels`).
        train_sizes: int `(N, 2)` heights and widths when the train images
            are whole-image canvases (`keras_snp.data.whole`, official
            recipe): the train split then draws its crops from them, and
            the images split off for validation or test become centre
            squares.
    """
    arrays = dict(arrays)
    num_classes = check_split_labels(
        {split: y for split, (_, y) in arrays.items()},
        source=source,
        num_classes=num_classes,
        label_names=label_names,
        allow_empty_classes=allow_empty_classes,
    )
    if not label_names:
        label_names = [str(c) for c in range(num_classes)]
    notes = list(notes)
    x, y = arrays["train"]
    rows = np.arange(len(y))

    def eval_images(held):  # evaluation images are centre squares
        if train_sizes is None:
            return x[held]
        return centre_squares(x[held], train_sizes[held], image_size)

    if examples_per_class:
        rows = rows[limit_per_class(y, examples_per_class)]
    if "test" in arrays and test_split is not None:
        raise UsageError(
            f"{source} has its own test split; drop test_split={test_split!r}."
        )
    if "test" not in arrays:
        rows = _held_out_test(
            source, arrays, y, rows, eval_images, test_split, notes, seed
        )
    if "validation" not in arrays and validation_fraction > 0:
        kept, held = split_off(y[rows], validation_fraction, seed)
        arrays["validation"] = (eval_images(rows[held]), y[rows[held]])
        rows = rows[kept]
        notes.append(
            f"validation = a seeded {validation_fraction:.0%} of train"
        )
    arrays["train"] = (x[rows], y[rows])
    crops = None if train_sizes is None else train_sizes[rows]
    if crops is not None and not use_tf:
        arrays["train"] = (eval_images(rows), y[rows])
        crops = None
        notes.append(
            "train crops from the centre square (the crop from the whole "
            "image needs tf.data)"
        )
    if arrays["test"] is None:
        arrays["test"] = arrays.get("validation")
    if len(arrays["train"][1]) == 0:
        raise UsageError(f"{source}: the train split is empty; add images.")

    from keras_snp.data import pipeline  # imports Keras

    def make(split, train):
        if arrays.get(split) is None:
            return None
        x, y = arrays[split]
        whole = train and crops is not None
        kwargs = dict(
            train=train,
            recipe=recipe if train else "none",
            batch_size=batch_size,
            seed=seed,
            drop_remainder=drop_remainder and train,
        )
        if not use_tf:
            return pipeline.NumpySplit(x, y, num_classes, **kwargs)
        import tensorflow as tf

        images, labels = tf.constant(x), tf.constant(y)
        ds = tf.data.Dataset.range(len(y))
        if train:  # shuffle indices, not images: no image buffer
            ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
        if whole:
            sizes = tf.constant(crops, "int32")
            ds = ds.map(
                lambda i: (
                    tf.gather(images, i),
                    tf.gather(labels, i),
                    tf.gather(sizes, i),
                )
            )
        else:
            ds = ds.map(lambda i: (tf.gather(images, i), tf.gather(labels, i)))
        return pipeline.tf_split(
            ds,
            whole=whole,
            size=len(y),
            image_size=image_size,
            num_classes=num_classes,
            shuffle_buffer=shuffle_buffer,
            shuffle=False,
            **kwargs,
        )

    info = DatasetInfo(
        name=name,
        num_classes=int(num_classes),
        label_names=list(label_names),
        split_sizes={
            s: (None if arrays.get(s) is None else int(len(arrays[s][1])))
            for s in ("train", "validation", "test")
        },
        image_size=int(image_size),
        source=os.fspath(source),
        skipped_files=int(skipped_files),
        corrupt_files=tuple(corrupt_files),
        notes=tuple(notes),
        whole_image_crop=crops is not None,
    )
    return DataSplits(
        train=make("train", True),
        validation=make("validation", False),
        test=make("test", False),
        info=info,
    )
