import numpy as np
import pytest

from keras_snp import data
from keras_snp.data import arrays
from keras_snp.utils import UsageError


def _all(split):
    batches = list(data.as_numpy(split))
    return (
        np.concatenate([b[0] for b in batches]),
        np.concatenate([b[1] for b in batches]),
    )


def _npz(tmp_path, **arrays_):
    path = tmp_path / "set.npz"
    np.savez(path, **arrays_)
    return str(path)


def _small(n=12, k=3, size=10, seed=0):
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (n, size, size, 3)).astype("uint8"),
        np.arange(n) % k,
    )


def test_synthetic_deterministic_by_seed():
    def load(seed):
        return data.load(
            "synthetic",
            12,
            8,
            seed=seed,
            recipe="light",
            examples_per_class=4,
            backend_format="numpy",
        )

    a, b, c = load(3), load(3), load(4)
    np.testing.assert_array_equal(_all(a.test)[0], _all(b.test)[0])
    np.testing.assert_array_equal(a.train[0][0], b.train[0][0])
    assert not np.array_equal(_all(a.test)[0], _all(c.test)[0])
    assert a.info.split_sizes == {"train": 40, "validation": 40, "test": 40}
    assert a.info.label_names[:2] == ["class_0", "class_1"]


def test_synthetic_num_classes_and_balance():
    splits = data.load(
        "synthetic",
        8,
        16,
        num_classes=4,
        examples_per_class=5,
        backend_format="numpy",
    )
    _, labels = _all(splits.test)
    assert labels.shape == (20, 4)
    np.testing.assert_array_equal(labels.sum(0), [5, 5, 5, 5])


def test_numpy_and_tf_forms_agree():
    kwargs = dict(seed=1, examples_per_class=3, recipe="light")
    a = data.load("synthetic", 8, 4, backend_format="numpy", **kwargs)
    b = data.load("synthetic", 8, 4, backend_format="tf", **kwargs)
    assert isinstance(a.train, data.NumpySplit)
    assert hasattr(b.train, "cardinality")
    for x, y in zip(_all(a.test), _all(b.test)):
        np.testing.assert_array_equal(x, y)
    assert data.num_batches(a.train) == data.num_batches(b.train) == 8


def test_numpy_train_reshuffles_each_epoch():
    splits = data.load(
        "synthetic",
        8,
        30,
        examples_per_class=3,
        recipe="none",
        backend_format="numpy",
    )
    first = np.concatenate([y.argmax(1) for _, y in splits.train])
    second = np.concatenate([y.argmax(1) for _, y in splits.train])
    assert sorted(first) == sorted(second)
    assert not np.array_equal(first, second)


def test_npz_source(tmp_path):
    x, y = _small()
    xt, yt = _small(6, seed=1)
    path = _npz(
        tmp_path,
        x_train=x,
        y_train=y,
        x_test=xt,
        y_test=yt,
        label_names=np.array(["cat", "dog", "eel"]),
    )
    for fmt in ("numpy", "tf"):
        splits = data.load(path, 10, 5, recipe="none", backend_format=fmt)
        assert splits.info.name == "set"
        assert splits.info.label_names == ["cat", "dog", "eel"]
        assert splits.info.split_sizes == {
            "train": 11,
            "validation": 1,
            "test": 6,
        }
        images, labels = _all(splits.test)
        np.testing.assert_array_equal(images, xt.astype("float32"))
        np.testing.assert_array_equal(labels.argmax(1), yt)


def test_npz_validation_grey_and_resize(tmp_path):
    x = np.zeros((4, 16, 32), "uint8")
    x[:, :, 8:24] = 200  # the centre square is bright, the sides dark
    y = np.array([0, 1, 0, 1])
    path = _npz(
        tmp_path,
        x_train=x,
        y_train=y,
        x_test=x,
        y_test=y,
        x_val=x[:2],
        y_val=y[:2],
    )
    splits = data.load(path, 16, 4, recipe="none", backend_format="numpy")
    assert splits.info.split_sizes == {"train": 4, "validation": 2, "test": 4}
    images, _ = _all(splits.test)
    np.testing.assert_array_equal(images, np.full((4, 16, 16, 3), 200.0))
    small = data.load(path, 8, 4, backend_format="numpy").test[0][0]
    assert small.shape == (4, 8, 8, 3)


def test_resize_keeps_aspect_and_crops_centre():
    image = np.arange(16 * 32 * 3).reshape(16, 32, 3) % 251
    out = arrays.to_rgb_uint8(image.astype("uint8")[None], 16)
    np.testing.assert_array_equal(out[0], image[:, 8:24])


@pytest.mark.parametrize(
    "drop, message",
    [
        ("y_test", "lacks y_test"),
        ("x_train", "lacks x_train"),
    ],
)
def test_npz_missing_keys(tmp_path, drop, message):
    x, y = _small()
    items = dict(x_train=x, y_train=y, x_test=x, y_test=y)
    del items[drop]
    with pytest.raises(UsageError, match=message):
        data.load(_npz(tmp_path, **items), 8, 4, backend_format="numpy")


def test_npz_bad_labels(tmp_path):
    x, y = _small()
    path = _npz(
        tmp_path,
        x_train=x,
        y_train=y,
        x_test=x,
        y_test=y + 2,
        label_names=np.array(["a", "b", "c"]),
    )
    with pytest.raises(UsageError, match=r"span 2\.\.4 but there are 3 "):
        data.load(path, 8, 4, backend_format="numpy")
    path = _npz(tmp_path, x_train=x, y_train=y[:-1], x_test=x, y_test=y)
    with pytest.raises(UsageError, match="has 12 images but y_train has 11"):
        data.load(path, 8, 4, backend_format="numpy")
    path = _npz(
        tmp_path,
        x_train=x,
        y_train=y,
        x_test=x,
        y_test=y,
        label_names=np.array(["a", "b"]),
    )
    with pytest.raises(
        UsageError, match="train split span 0..2 but there are 2 classes"
    ):
        data.load(path, 8, 4, backend_format="numpy")
    with pytest.raises(UsageError, match="2 label names for 3 classes"):
        data.load(path, 8, 4, num_classes=3, backend_format="numpy")


def test_more_classes_than_the_labels_use(tmp_path):
    # 127 names from a JSON object read line by line once made a 127-way
    # model of CIFAR-100's 100 classes without a word
    x, y = _small()
    path = _npz(tmp_path, x_train=x, y_train=y, x_test=x, y_test=y)
    names = ["a", "b", "c", "d", "e"]
    with pytest.raises(
        UsageError,
        match=r"5 classes but the labels use only "
        r"0\.\.2 \(3\)",
    ):
        data.load(path, 8, 4, label_names=names, backend_format="numpy")
    with pytest.raises(UsageError, match="labels use only 0..2"):
        data.load(path, 8, 4, num_classes=4, backend_format="numpy")
    splits = data.load(
        path, 8, 4, label_names=names[:3], backend_format="numpy"
    )
    assert splits.info.num_classes == 3


@pytest.mark.parametrize(
    "source, kwargs, message",
    [
        (
            "cifar10",
            {},
            r"Unknown dataset 'cifar10': use one of cifar100, "
            r"flowers102, synthetic, a folder .* or an \.npz",
        ),
        (
            "synthetic",
            {"image_size": 0},
            r"`image_size` must be an integer >= 1",
        ),
        ("synthetic", {"batch_size": 0}, r"`batch_size` must be an integer"),
        ("synthetic", {"recipe": "heavy"}, r"Unknown recipe 'heavy'"),
        ("synthetic", {"validation_fraction": 1.0}, r"`validation_fraction`"),
        ("synthetic", {"backend_format": "torch"}, r"`backend_format` must"),
        ("missing.npz", {}, r"No such \.npz file"),
    ],
)
def test_bad_arguments(source, kwargs, message):
    args = dict(image_size=8, batch_size=2)
    args.update(kwargs)
    with pytest.raises(UsageError, match=message):
        data.load(
            source, args.pop("image_size"), args.pop("batch_size"), **args
        )


def test_defaults():
    cifar = data.DATASET_DEFAULTS["cifar100"]
    assert (cifar.variant, cifar.image_size, cifar.batch_size) == (
        "cct_7_3x1",
        32,
        128,
    )
    assert (cifar.learning_rate, cifar.weight_decay) == (6e-4, 6e-2)
    flowers = data.DATASET_DEFAULTS["flowers102"]
    assert (flowers.variant, flowers.image_size, flowers.batch_size) == (
        "cct_7_7x2",
        224,
        96,
    )
    assert flowers.mean == (0.4353, 0.3773, 0.2872)  # official config
    assert data.defaults_for("some/folder") is data.GENERIC_DEFAULTS
    assert data.DATASET_DEFAULTS["synthetic"].variant == "cct_2_3x2"


def test_tf_train_order_deterministic_by_seed():
    def first(seed):
        splits = data.load(
            "synthetic",
            8,
            16,
            seed=seed,
            recipe="light",
            examples_per_class=4,
            backend_format="tf",
        )
        return next(iter(splits.train))[0].numpy()

    np.testing.assert_array_equal(first(1), first(1))
    assert not np.array_equal(first(1), first(2))
