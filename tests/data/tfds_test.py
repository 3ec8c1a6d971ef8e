import numpy as np
import pytest

from keras_snp import data

tfds = pytest.importorskip("tensorflow_datasets")


@pytest.fixture(autouse=True)
def prepared(monkeypatch):
    """`mock_data` serves the data: the offline check (is it prepared, is
    the host reachable) is tested in tests/cli/offline_test.py."""
    from keras_snp.data import tfds_source

    monkeypatch.setattr(tfds_source, "is_prepared", lambda *a, **k: True)


def test_cifar100_mock():
    with tfds.testing.mock_data(num_examples=20):
        splits = data.load("cifar100", 32, 4, recipe="light", seed=0)
    info = splits.info
    assert info.num_classes == 100
    assert info.label_names == data.cifar100_label_names()
    assert info.label_names[:3] == ["apple", "aquarium_fish", "baby"]
    assert info.split_sizes == {"train": 18, "validation": 2, "test": 20}
    counted = {}
    for split in ("train", "validation", "test"):
        n = 0
        for images, labels in getattr(splits, split):
            assert images.shape[1:] == (32, 32, 3)
            assert labels.shape[1] == 100
            assert images.dtype == "float32"
            n += images.shape[0]
        counted[split] = n
    assert counted == info.split_sizes
    assert data.num_batches(splits.train) == 5


def test_flowers102_mock_resizes():
    with tfds.testing.mock_data(num_examples=6):
        splits = data.load("flowers102", 24, 4, recipe="official")
    info = splits.info
    assert info.num_classes == 102
    assert info.label_names[0] == "pink primrose"
    assert info.split_sizes == {"train": 6, "validation": 6, "test": 6}
    images, labels = next(iter(splits.test))
    assert images.shape == (4, 24, 24, 3)
    assert labels.shape == (4, 102)
    images, labels = next(iter(splits.train))
    assert images.shape == (4, 24, 24, 3)
    np.testing.assert_allclose(np.sum(labels, 1), 1.0, atol=1e-5)
    assert float(np.min(images)) >= 0 and float(np.max(images)) <= 255


def test_examples_per_class_on_tfds():
    with tfds.testing.mock_data(num_examples=30):
        splits = data.load(
            "flowers102", 8, 64, examples_per_class=1, recipe="none"
        )
        _, labels = next(iter(splits.train))
    counts = np.sum(labels, 0)
    assert counts.max() == 1
    assert splits.info.split_sizes["train"] == int(counts.sum())


def test_tfds_needs_tf_form():
    with pytest.raises(data.sources.UsageError, match="tensorflow-datasets"):
        data.load("cifar100", 32, 4, backend_format="numpy")
