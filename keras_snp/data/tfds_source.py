"""TensorFlow Datasets sources: `cifar100` and `flowers102`.

- `cifar100` (tfds `cifar100`): validation is a seeded random 10 %
  (`validation_fraction`) of tfds's train split, and train the rest; test is
  tfds's test split. Label names are the official fine label names shipped
  with the package (offline, tfds knows only '0'..'99').
- `flowers102` (tfds `oxford_flowers102`): tfds's own train / validation /
  test splits (1020 / 1020 / 6149) and tfds's label names.

Images are resized like every other source (shorter side to `image_size`,
antialiased bilinear, then centre crop). When tfds does not know the split
sizes (offline metadata), they are counted.
"""

import glob
import json
import logging
import os
import socket

import numpy as np

from keras_snp.data.info import DatasetInfo
from keras_snp.data.info import DataSplits
from keras_snp.utils import UsageError

logger = logging.getLogger(__name__)

TFDS_NAMES = {"cifar100": "cifar100", "flowers102": "oxford_flowers102"}
# Where tfds downloads each dataset from: probed before a download.
DOWNLOAD_HOSTS = {
    "cifar100": ("www.cs.toronto.edu", 443),
    "flowers102": ("www.robots.ox.ac.uk", 443),
}
PROBE_TIMEOUT = 5.0
CIFAR100_LABELS = os.path.join(
    os.path.dirname(__file__), "cifar100_labels.json"
)


def cifar100_label_names():
    """The 100 CIFAR-100 fine label names, index = label."""
    with open(CIFAR100_LABELS, encoding="utf-8") as f:
        return json.load(f)["fine_label_names"]


def default_data_dir():
    """tfds's data folder: `$TFDS_DATA_DIR` or ~/tensorflow_datasets."""
    return os.environ.get("TFDS_DATA_DIR") or os.path.join(
        os.path.expanduser("~"), "tensorflow_datasets"
    )


def is_prepared(name, data_dir=None):
    """Whether tfds has prepared dataset `name` in `data_dir` (read from
    the folder layout `<data_dir>/<tfds name>/[config/]<version>/`, without
    importing tfds); True for remote data dirs, which are not checked."""
    data_dir = os.fspath(data_dir or default_data_dir())
    if "://" in data_dir:
        return True
    root = os.path.join(os.path.expanduser(data_dir), TFDS_NAMES[name])
    return bool(
        glob.glob(os.path.join(root, "*", "dataset_info.json"))
        or glob.glob(os.path.join(root, "*", "*", "dataset_info.json"))
    )


def host_reachable(host, port, timeout=PROBE_TIMEOUT):
    """Whether a TCP connection to `host:port` opens within `timeout` s."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def check_tfds(name, data_dir=None, download=True):
    """Fails at once, in one line, when `name` is neither prepared in
    `data_dir` nor downloadable (no download, or its host unreachable);
    so a download never starts offline and leaves no temporary files."""
    if is_prepared(name, data_dir):
        return
    where = data_dir or default_data_dir()
    ways = (
        "point `data_dir` at a tfds folder where it was prepared "
        "(e.g. copied from a machine with network), or give a folder "
        "of images / an .npz as the dataset"
    )
    if not download:
        raise UsageError(
            f"{name} (tfds {TFDS_NAMES[name]}) is not prepared "
            f"in {where} and downloads are off: {ways}. "
            f"Received: data_dir={data_dir!r}, download={download!r}"
        )
    host, port = DOWNLOAD_HOSTS[name]
    if not host_reachable(host, port):
        raise UsageError(
            f"{name} (tfds {TFDS_NAMES[name]}) is not in {where} and its "
            f"download host {host} cannot be reached: {ways}; or pass "
            "`download=False` to fail at once without trying. "
            f"Received: data_dir={data_dir!r}"
        )


def resize_tf(image, image_size):
    """Shorter side to `image_size`, then centre crop; float32 out."""
    import tensorflow as tf

    static = image.shape
    if static[0] == image_size and static[1] == image_size:
        return tf.cast(image, "float32")
    shape = tf.cast(tf.shape(image)[:2], "float32")
    scale = image_size / tf.reduce_min(shape)
    new = tf.maximum(tf.cast(tf.round(shape * scale), "int32"), image_size)
    image = tf.image.resize(image, new, antialias=True)
    return tf.image.resize_with_crop_or_pad(image, image_size, image_size)


def to_rgb(image):
    import tensorflow as tf

    channels = image.shape[-1]
    if channels == 1:
        return tf.image.grayscale_to_rgb(image)
    if channels == 4:
        return image[..., :3]
    return image


def count(ds):
    return int(ds.reduce(np.int64(0), lambda n, _: n + 1).numpy())


def _load(tfds, tfds_name, split, data_dir, download):
    try:
        return tfds.load(
            tfds_name,
            split=split,
            data_dir=data_dir,
            download=download,
            as_supervised=True,
            with_info=True,
            shuffle_files=False,
        )
    except Exception as error:  # tfds raises many kinds; keep one line
        if type(error).__name__ in ("DatasetNotFoundError", "AssertionError"):
            raise UsageError(
                f"tfds dataset {tfds_name} is not prepared in "
                f"{data_dir or default_data_dir()}: allow the download "
                "(`download=True`, needs network) or point `data_dir` at "
                "the folder where it was prepared. "
                f"Received: data_dir={data_dir!r}, download={download!r}"
            ) from None
        raise


def _limit_per_class(ds, examples_per_class, num_classes):
    import tensorflow as tf

    def step(counts, example):
        label = tf.cast(example[1], "int32")
        keep = counts[label] < examples_per_class
        counts = tf.tensor_scatter_nd_add(counts, [[label]], [1])
        return counts, (example, keep)

    ds = ds.scan(tf.zeros([num_classes], "int32"), step)
    return ds.filter(lambda example, keep: keep).map(
        lambda example, keep: example
    )


def load_tfds(
    name,
    *,
    image_size,
    batch_size,
    recipe,
    validation_fraction,
    seed,
    data_dir,
    download,
    num_classes,
    examples_per_class,
    shuffle_buffer,
    drop_remainder,
):
    """Loads a named tfds dataset into `DataSplits` (tf.data splits)."""
    import tensorflow as tf
    import tensorflow_datasets as tfds

    from keras_snp.data import pipeline
    from keras_snp.data import whole as whole_lib

    tfds_name = TFDS_NAMES[name]
    raw, sizes = {}, {}
    if name == "cifar100":
        train, info = _load(tfds, tfds_name, "train", data_dir, download)
        test, _ = _load(tfds, tfds_name, "test", data_dir, download)
        total = _known_size(info, "train") or count(train)
        rng = np.random.default_rng([seed, 1])
        held = np.zeros(total, bool)
        count_held = int(round(total * validation_fraction))
        held[rng.permutation(total)[:count_held]] = True
        table = tf.constant(held)
        marked = train.enumerate()

        def pick(wanted):
            return marked.filter(
                lambda i, ex: tf.equal(table[tf.minimum(i, total - 1)], wanted)
            ).map(lambda i, ex: ex)

        raw["train"], sizes["train"] = pick(False), int(total - held.sum())
        if held.any():
            raw["validation"], sizes["validation"] = pick(True), count_held
        raw["test"] = test
        sizes["test"] = _known_size(info, "test") or count(test)
        label_names = cifar100_label_names()
    else:
        for split in ("train", "validation", "test"):
            raw[split], info = _load(tfds, tfds_name, split, data_dir, download)
            sizes[split] = _known_size(info, split) or count(raw[split])
        label_names = list(info.features["label"].names)
    found = info.features["label"].num_classes
    if num_classes is not None and num_classes != found:
        raise UsageError(
            f"{name} has {found} classes, not num_classes="
            f"{num_classes}; drop num_classes or fix it."
        )
    if examples_per_class:
        raw["train"] = _limit_per_class(raw["train"], examples_per_class, found)
        sizes["train"] = count(raw["train"])

    def prepare(image, label):
        image = resize_tf(to_rgb(image), image_size)
        image = tf.clip_by_value(tf.round(image), 0, 255)
        return tf.cast(image, "uint8"), label

    # Photographs of any size: the official recipe's crop is drawn from
    # the whole image (keras_snp.data.whole); CIFAR-100 is 32 px already.
    whole = recipe == "official" and name != "cifar100"

    def prepare_whole(image, label):
        canvas, size = whole_lib.fit_canvas_tf(to_rgb(image), image_size)
        return canvas, label, size

    splits = {}
    for split, ds in raw.items():
        train = split == "train"
        ds = ds.map(
            prepare_whole if train and whole else prepare,
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        if train:
            ds = ds.cache()
        splits[split] = pipeline.tf_split(
            ds,
            whole=train and whole,
            size=sizes[split],
            train=train,
            recipe=recipe if train else "none",
            image_size=image_size,
            batch_size=batch_size,
            num_classes=found,
            seed=seed,
            drop_remainder=drop_remainder and train,
            shuffle_buffer=shuffle_buffer or min(sizes[split] or 10000, 10000),
        )
    notes = ()
    if "validation" in raw and name == "cifar100":
        notes = (f"validation = a seeded {validation_fraction:.0%} of train",)
    info_out = DatasetInfo(
        name=name,
        num_classes=int(found),
        label_names=label_names,
        split_sizes={s: sizes.get(s) for s in ("train", "validation", "test")},
        image_size=int(image_size),
        source=name,
        notes=notes,
        whole_image_crop=whole,
    )
    return DataSplits(
        train=splits["train"],
        validation=splits.get("validation"),
        test=splits["test"],
        info=info_out,
    )


def _known_size(info, split):
    try:
        return int(info.splits[split].num_examples) or None
    except (KeyError, AttributeError, TypeError, ValueError):
        return None
