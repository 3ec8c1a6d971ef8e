"""Folder source: `train/`, optional `val/` or `validation/`, optional `test/`.

Each split folder holds one sub-folder per class; the class order is the
natural sort of the names of `train/`'s sub-folders ('1', '2', '10', not
'1', '10', '2'). Images are decoded with PIL once, in threads, converted to
RGB and resized (shorter side, then centre crop) to `image_size`, and kept
in memory as uint8. Files whose extension PIL does not know as an image are
skipped and counted; images that fail to decode (truncated or corrupt) are
skipped and reported by name (in a warning and in `DatasetInfo`).
"""

import concurrent.futures
import logging
import os
import re
import time

import numpy as np

from keras_snp.data.arrays import resize_pil
from keras_snp.data.arrays import to_rgb_pil
from keras_snp.data.whole import canvas_side
from keras_snp.data.whole import fit_canvas_pil
from keras_snp.utils import UsageError

logger = logging.getLogger(__name__)

SPLIT_FOLDERS = {
    "train": ("train",),
    "validation": ("val", "validation"),
    "test": ("test",),
}


def natural_key(name):
    """Sort key that orders digit runs by value: '2' before '10'."""
    return [
        int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)
    ]


def image_extensions():
    from PIL import Image

    return {ext.lower() for ext in Image.registered_extensions()}


def list_classes(split_dir):
    return sorted(
        (
            e.name
            for e in os.scandir(split_dir)
            if e.is_dir() and not e.name.startswith(".")
        ),
        key=natural_key,
    )


def decode(path, image_size, whole=False):
    """One RGB uint8 (S, S, 3) array, or None when the file is unreadable;
    `whole`: the whole image's `(canvas, (height, width))` instead
    (`keras_snp.data.whole`)."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            if image.format == "JPEG":
                image.draft("RGB", (image_size, image_size))
            image.load()
            if whole:
                return fit_canvas_pil(to_rgb_pil(image), image_size)
            return np.asarray(resize_pil(image, image_size), "uint8")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None


def scan_split(split_dir, classes, extensions, allow_empty_classes=False):
    """(paths, labels, skipped count) of one split folder."""
    index = {name: i for i, name in enumerate(classes)}
    found = list_classes(split_dir)
    extra = [name for name in found if name not in index]
    if extra:
        raise UsageError(
            f"{split_dir} has class folders not in train/: "
            f"{', '.join(extra[:5])}; every split must use train/'s classes."
        )
    paths, labels, skipped = [], [], 0
    for name in found:
        class_dir = os.path.join(split_dir, name)
        count = 0
        for root, dirs, files in os.walk(class_dir):
            dirs.sort(key=natural_key)
            for file in sorted(files, key=natural_key):
                ext = os.path.splitext(file)[1].lower()
                if file.startswith(".") or ext not in extensions:
                    skipped += 1
                    continue
                paths.append(os.path.join(root, file))
                labels.append(index[name])
                count += 1
        if count == 0 and not allow_empty_classes:
            raise UsageError(
                f"Class folder {class_dir} has no images; add images, "
                "remove the folder, or pass `allow_empty_classes=True`."
            )
    return paths, labels, skipped


def check_folder(path):
    """The class names of a folder source, after checking its layout
    (reads no image: fast)."""
    if not os.path.isdir(path):
        raise UsageError(
            f"Dataset folder {path} does not exist; give a "
            "folder with train/<class>/<images>."
        )
    train_dir = os.path.join(path, "train")
    if not os.path.isdir(train_dir):
        raise UsageError(
            f"Dataset folder {path} has no train/ sub-folder; expected "
            f"{path}/train/<class>/<images> (optional val/, test/)."
        )
    classes = list_classes(train_dir)
    if not classes:
        raise UsageError(
            f"{train_dir} has no class sub-folders; put each class's images "
            f"in {train_dir}/<class name>/."
        )
    return classes


def load_folder(
    path,
    image_size,
    workers=None,
    allow_empty_classes=False,
    whole_train=False,
):
    """Decodes a folder source; class folders without images are refused
    unless `allow_empty_classes`.

    `whole_train`: the train images are kept whole, as canvases
    (`keras_snp.data.whole`), for the official recipe's crop.

    Returns:
        `(arrays {split: (uint8 images, int labels)}, class names,
        skipped count, corrupt relative paths, train sizes)`: the train
        sizes are the canvases' `(N, 2)` heights and widths, or None.
    """
    classes = check_folder(path)
    train_dir = os.path.join(path, "train")
    extensions = image_extensions()
    todo = {}
    skipped = 0
    for split, names in SPLIT_FOLDERS.items():
        for folder in names:
            split_dir = os.path.join(path, folder)
            if os.path.isdir(split_dir):
                paths, labels, n = scan_split(
                    split_dir, classes, extensions, allow_empty_classes
                )
                todo[split] = (paths, labels)
                skipped += n
                break
    start = time.time()
    workers = workers or min(32, (os.cpu_count() or 1) + 4)
    arrays, corrupt, train_sizes = {}, [], None
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for split, (paths, labels) in todo.items():
            whole = whole_train and split == "train"
            images = list(
                pool.map(lambda p, w=whole: decode(p, image_size, w), paths)
            )
            good = [i for i, image in enumerate(images) if image is not None]
            corrupt += [
                os.path.relpath(paths[i], path)
                for i, image in enumerate(images)
                if image is None
            ]
            if whole:
                train_sizes = np.asarray(
                    [images[i][1] for i in good], "int32"
                ).reshape(-1, 2)
                images = [None if i is None else i[0] for i in images]
            side = canvas_side(image_size) if whole else image_size
            x = (
                np.stack([images[i] for i in good])
                if good
                else np.zeros((0, side, side, 3), "uint8")
            )
            arrays[split] = (x, np.asarray(labels, "int64")[good])
    logger.info(
        "Decoded %d images from %s in %.1f s.",
        sum(len(y) for _, y in arrays.values()),
        path,
        time.time() - start,
    )
    if skipped:
        logger.warning("Skipped %d non-image files in %s.", skipped, path)
    if corrupt:
        logger.warning(
            "Skipped %d unreadable images in %s: %s%s",
            len(corrupt),
            path,
            ", ".join(corrupt[:5]),
            " ..." if len(corrupt) > 5 else "",
        )
    for split, (_, y) in arrays.items():
        counts = np.bincount(y, minlength=len(classes))
        if split == "train" and not counts.all() and not allow_empty_classes:
            empty = [classes[c] for c in np.flatnonzero(counts == 0)]
            raise UsageError(
                f"Class folder {train_dir}/{empty[0]} has no readable "
                "images; add images, remove the folder, or pass "
                "`allow_empty_classes=True`."
            )
    return arrays, classes, skipped, corrupt, train_sizes
