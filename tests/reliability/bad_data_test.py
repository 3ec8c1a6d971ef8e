"""Bad data is refused at load, before training, in one line: labels
beyond the train split's classes, NaN / Inf pixels, classes with no
training image, empty splits."""

import argparse
import os
import warnings

import numpy as np
import pytest

from keras_snp import data
from keras_snp.cli.common import check_data
from keras_snp.cli.common import guarded
from keras_snp.cli.train import train_main
from keras_snp.utils import UsageError

CLASSES = 4
PER_CLASS = 3
SIZE = 8


def _images(n, dtype="uint8"):
    rng = np.random.default_rng(n)
    return rng.integers(0, 256, (n, SIZE, SIZE, 3)).astype(dtype)


def _labels(per_class=PER_CLASS, classes=range(CLASSES)):
    return np.repeat(np.asarray(list(classes)), per_class)


def _npz(tmp_path, **overrides):
    """A small .npz (4 classes, 3 images each per split), with
    `overrides` replacing (or, as None, removing) its arrays."""
    y = _labels()
    arrays = {
        "x_train": _images(len(y)),
        "y_train": y,
        "x_test": _images(len(y)),
        "y_test": y,
    }
    arrays.update(overrides)
    path = tmp_path / "set.npz"
    np.savez(path, **{k: v for k, v in arrays.items() if v is not None})
    return str(path)


def _load(path, **kwargs):
    return data.load(path, SIZE, 4, backend_format="numpy", **kwargs)


def _refused(path, *parts, **kwargs):
    with pytest.raises(UsageError) as caught:
        _load(path, **kwargs)
    message = str(caught.value)
    assert "\n" not in message
    for part in parts:
        assert part in message, message
    return message


def test_test_labels_beyond_the_train_classes(tmp_path):
    y_test = _labels()
    y_test[:5] += 4  # 5 images labelled 4..5: train has 0..3
    path = _npz(tmp_path, y_test=y_test)
    message = _refused(
        path, "the test split has 5 images with labels 4..5", "(0..3)"
    )
    assert "pass `num_classes` / `label_names`" in message
    # saying there are 6 classes leaves 4 and 5 with no training image
    _refused(path, "no images of 2 of the 6 classes (4, 5)", num_classes=6)
    splits = _load(path, num_classes=6, allow_empty_classes=True)
    assert splits.info.num_classes == 6


def test_validation_labels_beyond_the_train_classes(tmp_path):
    y_val = _labels(1)
    y_val[-1] = 9
    path = _npz(tmp_path, x_val=_images(len(y_val)), y_val=y_val)
    _refused(path, "the validation split has 1 images with labels 9..9")


@pytest.mark.parametrize(
    "key, bad, count",
    [("x_test", np.nan, 3), ("x_train", np.inf, 2), ("x_val", -np.inf, 1)],
)
def test_non_finite_pixels(tmp_path, key, bad, count):
    x = _images(CLASSES * PER_CLASS, "float32")
    x.reshape(-1)[:count] = bad
    extra = {"y_val": _labels()} if key == "x_val" else {}
    path = _npz(tmp_path, **{key: x}, **extra)
    with warnings.catch_warnings():
        # refused before any cast: no numpy "invalid value" warning
        warnings.simplefilter("error")
        message = _refused(path, key, f"{count} non-finite values")
    assert "np.nan_to_num" in message


def test_class_with_no_training_image(tmp_path):
    y_train = _labels(classes=(0, 1, 3))
    path = _npz(tmp_path, x_train=_images(len(y_train)), y_train=y_train)
    _refused(path, "the train split has no images of 1 of the 4 classes (2)")
    names = np.array(["ant", "bee", "cat", "dog"])
    path = _npz(
        tmp_path,
        x_train=_images(len(y_train)),
        y_train=y_train,
        label_names=names,
    )
    _refused(path, "(2 'cat')", "`allow_empty_classes=True`")
    splits = _load(path, allow_empty_classes=True)
    assert splits.info.num_classes == 4
    assert splits.info.label_names == list(names)


@pytest.mark.parametrize(
    "split, key", [("test", "test"), ("validation", "val")]
)
def test_empty_split_given(tmp_path, split, key):
    empty = {f"x_{key}": _images(0), f"y_{key}": _labels(0)}
    path = _npz(tmp_path, **empty)
    _refused(path, f"the {split} split of {path} is empty (0 images)")


def test_empty_class_folder_needs_the_opt_in(tmp_path):
    from PIL import Image

    for name in ("a", "b"):
        folder = tmp_path / "train" / name
        folder.mkdir(parents=True)
        for i in range(2):
            Image.new("RGB", (SIZE, SIZE), (60 * i, 90, 30)).save(
                folder / f"{i}.png"
            )
    (tmp_path / "train" / "c").mkdir()
    _refused(
        str(tmp_path), "train/c has no images", "`allow_empty_classes=True`"
    )
    splits = _load(
        str(tmp_path), allow_empty_classes=True, test_split="validation"
    )
    assert splits.info.num_classes == 3


def test_command_line_checks_npz_labels_before_loading(tmp_path):
    y_train = _labels(classes=(0, 1, 3))
    path = _npz(tmp_path, x_train=_images(len(y_train)), y_train=y_train)
    args = argparse.Namespace(
        dataset=path,
        data_dir=None,
        download=True,
        label_names=None,
        num_classes=None,
        allow_empty_classes=False,
    )
    with pytest.raises(UsageError, match="no images of 1 of the 4 classes"):
        check_data(args)
    check_data(
        argparse.Namespace(**{**vars(args), "allow_empty_classes": True})
    )


def test_allow_empty_classes_reaches_load():
    from keras_snp.run.config import RunConfig
    from keras_snp.run.pipeline import source_kwargs

    assert "allow_empty_classes" not in source_kwargs(RunConfig())
    config = RunConfig(allow_empty_classes=True)
    assert source_kwargs(config)["allow_empty_classes"] is True


def test_train_refuses_nan_pixels_before_training(tmp_path, capsys):
    x_train = _images(CLASSES * PER_CLASS, "float32")
    x_train[4, 1, 2, 0] = np.nan
    path = _npz(tmp_path, x_train=x_train)
    runs = tmp_path / "runs"
    code = guarded(
        train_main,
        [
            "--dataset",
            path,
            "--variant",
            "cct_2_3x2",
            "--image-size",
            "16",
            "--batch-size",
            "4",
            "--epochs",
            "1",
            "--output-dir",
            str(runs),
            "--quiet",
        ],
    )
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert code == 2
    assert len(errors) == 1 and "Traceback" not in err, err
    assert "x_train" in errors[0] and "1 non-finite values" in errors[0]
    assert not os.path.exists(runs) or os.listdir(runs) == []
