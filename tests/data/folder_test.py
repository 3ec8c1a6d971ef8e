import logging

import numpy as np
import pytest

from keras_snp import data
from keras_snp.data.folder import natural_key
from keras_snp.utils import UsageError


def test_natural_order():
    names = ["10", "2", "1", "b2", "b10", "a"]
    assert sorted(names, key=natural_key) == ["1", "2", "10", "a", "b2", "b10"]


def test_folder_source(make_folder, caplog):
    path, colours = make_folder()
    with caplog.at_level(logging.WARNING):
        splits = data.load(
            str(path), 12, 4, recipe="none", backend_format="numpy"
        )
    info = splits.info
    assert info.label_names == ["1", "2", "10"]
    assert info.num_classes == 3
    assert info.skipped_files == 1
    assert info.corrupt_files == ("train/1/broken.jpg",)
    assert "1 non-image" in caplog.text and "broken.jpg" in caplog.text
    # train: 3 classes x 3 images + grey + rgba; 10% held out for validation
    assert info.split_sizes["train"] + info.split_sizes["validation"] == 11
    assert info.split_sizes["test"] == 9
    # test split is not shuffled: label order follows the natural class order
    batches = list(data.as_numpy(splits.test))
    images = np.concatenate([b[0] for b in batches])
    labels = np.concatenate([b[1] for b in batches])
    assert images.shape == (9, 12, 12, 3) and labels.shape == (9, 3)
    for image, label in zip(images, labels.argmax(1)):
        want = colours[info.label_names[label]].astype("float32")
        assert np.abs(image.mean((0, 1)) - want).max() < 4
    assert list(labels.argmax(1)) == [0, 0, 0, 1, 1, 1, 2, 2, 2]


def test_folder_grey_and_rgba_become_rgb(make_folder):
    path, _ = make_folder(splits=("train",))
    splits = data.load(
        str(path),
        12,
        64,
        recipe="none",
        validation_fraction=0.0,
        backend_format="numpy",
        test_split="validation",
    )
    assert splits.validation is None and splits.test is None
    images, labels = splits.train[0]
    assert images.shape == (11, 12, 12, 3)
    greys = [im for im in images if np.allclose(im, 120, atol=1)]
    rgbas = [im for im in images if np.allclose(im, (10, 20, 30), atol=1)]
    assert len(greys) == 1 and len(rgbas) == 1


def test_folder_validation_and_tf_form(make_folder):
    path, _ = make_folder(splits=("train", "val", "test"), extras=False)
    splits = data.load(str(path), 8, 2, recipe="light", backend_format="tf")
    assert splits.info.split_sizes == {"train": 9, "validation": 9, "test": 9}
    assert data.num_batches(splits.train) == 5
    for images, labels in splits.train:
        assert images.shape[1:] == (8, 8, 3)
        assert labels.shape[1] == 3


def test_empty_class_folder(make_folder):
    path, _ = make_folder(extras=False)
    (path / "train" / "empty").mkdir()
    (path / "train" / "empty" / "readme.txt").write_text("x")
    with pytest.raises(UsageError, match=r"train/empty has no images"):
        data.load(str(path), 8, 2, backend_format="numpy")


def test_class_only_in_test(make_folder):
    path, _ = make_folder(extras=False)
    (path / "test" / "new").mkdir()
    with pytest.raises(UsageError, match="not in train/: new"):
        data.load(str(path), 8, 2, backend_format="numpy")


def test_folder_errors(tmp_path, make_folder):
    with pytest.raises(UsageError, match="does not exist"):
        data.load(str(tmp_path / "missing"), 8, 2)
    with pytest.raises(UsageError, match="no train/ sub-folder"):
        data.load(str(tmp_path), 8, 2)
    (tmp_path / "train").mkdir()
    with pytest.raises(UsageError, match="no class sub-folders"):
        data.load(str(tmp_path), 8, 2)


def test_folder_num_classes_mismatch(make_folder):
    path, _ = make_folder(extras=False)
    with pytest.raises(UsageError, match="3 class folders, not num_classes=5"):
        data.load(str(path), 8, 2, num_classes=5, backend_format="numpy")


def test_folder_without_test_is_refused_unless_told(make_folder):
    path, _ = make_folder(splits=("train",), per_class=10, extras=False)

    def load(**kwargs):
        return data.load(
            str(path), 8, 64, recipe="none", backend_format="numpy", **kwargs
        )

    with pytest.raises(UsageError, match="has no test split.*test_split="):
        load()
    held = load(test_split="train").info.split_sizes
    assert held == {"train": 24, "validation": 3, "test": 3}
    splits = load(test_split="validation", seed=3)
    test = np.concatenate([b[0] for b in data.as_numpy(splits.test)])
    validation = np.concatenate(
        [b[0] for b in data.as_numpy(splits.validation)]
    )
    np.testing.assert_array_equal(test, validation)
    assert splits.info.split_sizes["train"] == 27


def test_test_split_is_refused_where_a_test_split_exists(make_folder):
    path, _ = make_folder(extras=False)
    with pytest.raises(UsageError, match="its own test split"):
        data.load(str(path), 8, 4, backend_format="numpy", test_split="train")
    with pytest.raises(UsageError, match="its own test split"):
        data.load("synthetic", 8, 4, test_split="validation")
