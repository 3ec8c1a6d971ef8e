"""The physically smaller model of any pruned model (`shrink_any`)."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_snp
from keras_snp.pruning import shrink_any
from keras_snp.pruning.any_model import connection_sites
from keras_snp.pruning.any_model import connections
from keras_snp.snp import compute_snp
from tests.helpers import run_on_jax
from tests.helpers import tiny_cct


def attention_model():
    """The README's model: patches, a residual attention, an MLP."""
    images = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(16, 4, strides=4, name="patches")(images)
    x = keras.layers.Reshape((16, 16))(x)
    x = x + keras.layers.MultiHeadAttention(4, 8, name="attn")(x, x)
    x = keras.layers.Dense(32, activation="gelu", name="mlp")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(images, keras.layers.Dense(5, name="head")(x))


def vgg_like():
    """A small VGG: convolutions, a batch norm, pooling, Flatten, Dense."""
    return keras.Sequential(
        [
            keras.Input((12, 12, 3)),
            keras.layers.Conv2D(
                6, 3, padding="same", activation="relu", name="block1_conv1"
            ),
            keras.layers.BatchNormalization(name="block1_bn"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(8, 3, activation="relu", name="block2_conv1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Flatten(),
            keras.layers.Dense(16, activation="relu", name="fc1"),
            keras.layers.Dropout(0.1),
            keras.layers.Dense(5, name="predictions"),
        ],
        name="vgg_like",
    )


def _randomize(model, seed=0):
    """Nonzero biases and batch-norm statistics, so that constants of
    units without input matter."""
    rng = np.random.default_rng(seed)
    for v in model.weights:
        name = v.path.split("/")[-1]
        if name in ("bias", "beta", "moving_mean", "gamma"):
            v.assign(rng.normal(0.2, 0.3, size=v.shape).astype("float32"))
        if name == "moving_variance":
            v.assign(rng.uniform(0.5, 2.0, size=v.shape).astype("float32"))


def _zero(layer, index, attribute="kernel"):
    """Zeroes `layer.<attribute>[index]` in place."""
    variable = getattr(layer, attribute)
    value = ops.convert_to_numpy(variable).copy()
    value[index] = 0.0
    variable.assign(value)


def zero_attention(model):
    """Head 1 without output, head 2 without value input, hidden units
    without output (0, 3, 5) and without input (7, 9)."""
    attention = model.get_layer("attn")
    _zero(attention._output_dense, 1)
    _zero(attention._value_dense, (slice(None), 2))
    _zero(model.get_layer("head"), [0, 3, 5])
    _zero(model.get_layer("mlp"), (slice(None), [7, 9]))
    return {"attn": 2, "mlp": 5}


def zero_vgg(model):
    """Channels cut off on every side: after a batch norm and pooling, and
    through Flatten into a Dense."""
    conv2 = model.get_layer("block2_conv1")
    _zero(conv2, (Ellipsis, [1, 4], slice(None)))  # conv1 channels 1, 4
    _zero(conv2, (Ellipsis, 2))  # conv2 channel 2: a constant
    _zero(model.get_layer("block1_conv1"), (Ellipsis, 3))
    _zero(model.get_layer("fc1"), (slice(None), [0, 1]))
    _zero(model.get_layer("predictions"), [2, 3])
    return {"block1_conv1": 3, "block2_conv1": 1, "fc1": 4}


CASES = {
    "attention": (attention_model, zero_attention, (16, 16, 3)),
    "vgg": (vgg_like, zero_vgg, (12, 12, 3)),
}


def _outputs(model, x):
    return ops.convert_to_numpy(model(x, training=False))


def shrink_errors(tmp_dir, seed=0):
    """Per hand-zeroed case: the report, the parameter counts and the
    largest output differences of the shrunk and reloaded models (what
    the tests check on each backend)."""
    keras.utils.set_random_seed(seed)
    results = {}
    for name, (build, zero, shape) in CASES.items():
        model = build()
        _randomize(model, seed)
        expected_report = zero(model)
        x = np.random.default_rng(seed).normal(size=(6, *shape))
        x = x.astype("float32")
        small, report = shrink_any(model, return_report=True)
        path = f"{tmp_dir}/{name}.keras"
        small.save(path)
        loaded = keras.models.load_model(path)
        results[name] = {
            "report": report,
            "expected_report": expected_report,
            "params": [model.count_params(), small.count_params()],
            "error": float(
                np.abs(_outputs(small, x) - _outputs(model, x)).max()
            ),
            "loaded": float(
                np.abs(_outputs(loaded, x) - _outputs(model, x)).max()
            ),
        }
    return results


def _check(results):
    for name, result in results.items():
        assert result["report"] == result["expected_report"], name
        before, after = result["params"]
        assert after < before, name
        assert result["error"] < 1e-5, (name, result)
        assert result["loaded"] < 1e-5, (name, result)


def test_hand_zeroed_units_and_heads_are_removed(tmp_path):
    _check(shrink_errors(tmp_path))


def test_a_removed_head_leaves_a_smaller_attention(tmp_path):
    model = attention_model()
    _randomize(model)
    zero_attention(model)
    small = shrink_any(model)
    attention = small.get_layer("attn")
    assert attention.num_heads == 2
    assert tuple(attention._output_dense.kernel.shape) == (2, 8, 16)
    assert small.get_layer("mlp").units == 27
    assert tuple(small.get_layer("head").kernel.shape) == (27, 5)


def test_nothing_removable_gives_an_equal_model():
    for build, _, shape in CASES.values():
        model = build()
        _randomize(model)
        small, report = shrink_any(model, return_report=True)
        assert report == {}
        assert small is not model
        assert small.count_params() == model.count_params()
        x = np.random.default_rng(1).normal(size=(3, *shape)).astype("float32")
        np.testing.assert_allclose(
            _outputs(small, x), _outputs(model, x), atol=1e-6
        )


def test_every_unit_gone_keeps_one_silenced():
    model = attention_model()
    _randomize(model)
    _zero(model.get_layer("attn")._output_dense, Ellipsis)
    _zero(model.get_layer("head"), Ellipsis)
    small = shrink_any(model)
    assert small.get_layer("attn").num_heads == 1
    assert small.get_layer("mlp").units == 1
    x = np.random.default_rng(2).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(
        _outputs(small, x), _outputs(model, x), atol=1e-6
    )


def test_units_feeding_a_residual_or_two_readers_stay():
    inputs = keras.Input((4, 8))
    a = keras.layers.Dense(8, name="a")(inputs)
    x = keras.layers.Add()([a, inputs])
    b = keras.layers.Dense(6, activation="relu", name="b")(x)
    x = keras.layers.Concatenate()(
        [keras.layers.Dense(3, name="c")(b), keras.layers.Dense(3)(b)]
    )
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    _zero(model.get_layer("a"), (slice(None), 2))
    _zero(model.get_layer("a"), 2, "bias")
    _zero(model.get_layer("c"), 1)  # b's unit 1 is still read by the other
    small, report = shrink_any(model, return_report=True)
    assert report == {}
    assert small.get_layer("a").units == 8 and small.get_layer("b").units == 6


def test_a_constant_channel_folds_only_into_a_valid_convolution():
    def cnn(padding):
        return keras.Sequential(
            [
                keras.Input((6, 6, 2)),
                keras.layers.Conv2D(4, 3, activation="relu", name="c1"),
                keras.layers.Conv2D(3, 3, padding=padding, name="c2"),
            ]
        )

    x = np.random.default_rng(4).normal(size=(2, 6, 6, 2)).astype("float32")
    for padding, removed in (("valid", 2), ("same", 1)):
        model = cnn(padding)
        _randomize(model)
        _zero(model.get_layer("c1"), (Ellipsis, [0, 1]))  # no input
        _zero(model.get_layer("c1"), 0, "bias")  # relu(0): no constant
        bias = ops.convert_to_numpy(model.get_layer("c1").bias)
        assert bias[1] > 0  # relu(bias): a constant channel
        small = shrink_any(model)
        assert small.get_layer("c1").filters == 4 - removed, padding
        np.testing.assert_allclose(
            _outputs(small, x), _outputs(model, x), atol=1e-5
        )


def test_a_cct_goes_to_the_cct_shrink():
    from keras_snp.pruning import shrink

    model = tiny_cct()
    small, report = shrink_any(model, return_report=True)
    assert report == shrink(model, return_report=True)[1]
    x = np.random.default_rng(3).uniform(0, 255, (2, 16, 16, 3))
    np.testing.assert_allclose(
        _outputs(small, x.astype("float32")),
        _outputs(model, x.astype("float32")),
        atol=1e-5,
    )


def test_a_model_shrink_cannot_rebuild_is_named():
    class Custom(keras.Model):
        def call(self, x):
            return x

    with pytest.raises(ValueError, match="Functional and Sequential"):
        shrink_any(Custom())


def _batches(shape, classes=5, n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    y = rng.integers(0, classes, n)
    return [(x[i : i + 16], y[i : i + 16]) for i in range(0, n, 16)]


def _prune(model, shape):
    batches = _batches(shape)
    conns = connections(model)
    snp = compute_snp(
        model,
        batches,
        batches,
        taps=connection_sites(conns),
        flip=False,
        shift=0,
        views=1,
        tolerance=1e-3,
        verbose=0,
    )
    pruned = keras_snp.prune(model, snp, conns=conns)
    assert 0 < pruned.dilution < 1
    return pruned, batches[0][0]


def _check_pruned(pruned, x, tmp_path, name):
    small, report = pruned.shrink(return_report=True)
    assert sum(report.values()) > 0
    assert small.count_params() < pruned.model.count_params()
    expected = _outputs(pruned.model, x)
    np.testing.assert_allclose(_outputs(small, x), expected, atol=1e-5)
    path = tmp_path / f"{name}.keras"
    small.save(path)
    loaded = keras.models.load_model(path)  # safe mode
    np.testing.assert_allclose(_outputs(loaded, x), expected, atol=1e-5)
    return small, report


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(CASES))
def test_pruned_by_andc_then_hand_zeroed(name, tmp_path):
    build, zero, shape = CASES[name]
    keras.utils.set_random_seed(0)
    model = build()
    _randomize(model)
    pruned, x = _prune(model, shape)
    zero(pruned.model)
    _check_pruned(pruned, x, tmp_path, name)


@pytest.fixture(scope="module")
def keras_hub():
    return pytest.importorskip(
        "keras_hub", reason="keras-hub is not installed (the `hub` extra)"
    )


@pytest.mark.slow
def test_keras_hub_vit_loses_mlp_units(keras_hub, tmp_path):
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
    )
    vit = keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=5)
    _randomize(vit)
    pruned, x = _prune(vit, (32, 32, 3))
    # nothing removable: an equal copy of the keras-hub class
    same = shrink_any(vit)
    assert type(same) is type(vit) and same is not vit
    assert same.count_params() == vit.count_params()
    np.testing.assert_allclose(_outputs(same, x), _outputs(vit, x), atol=1e-6)
    for index, block in enumerate(_encoder(pruned.model).encoder_layers):
        # block 1 could lose 6 units, block 2 only 4: one `mlp_dim` for
        # both keeps 2 of block 1's as silenced padding
        cut = 6 if index == 0 else 4
        _zero(block.mlp.dense_2, slice(0, cut))
    small, report = _check_pruned(pruned, x, tmp_path, "vit")
    encoder = _encoder(small)
    assert encoder.mlp_dim <= 28
    assert [b.mlp.dense_1.units for b in encoder.encoder_layers] == [
        encoder.mlp_dim
    ] * 2
    blocks = {k.split("/")[-2]: v for k, v in report.items() if "mlp" in k}
    assert blocks == {
        "transformer_block_1": 32 - encoder.mlp_dim,
        "transformer_block_2": 32 - encoder.mlp_dim,
    }


def _encoder(model):
    from keras_snp.sites.adapters import walk

    (encoder,) = [
        layer
        for _, layer in walk(model)
        if type(layer).__name__ == "ViTEncoder"
    ]
    return encoder


@pytest.mark.slow
def test_hand_zeroed_units_and_heads_are_removed_on_jax():
    code = (
        "import json, tempfile\n"
        "from tests.sites.shrink_test import shrink_errors\n"
        "print('RESULT', json.dumps(shrink_errors(tempfile.mkdtemp())))\n"
    )
    _check(run_on_jax(None, code))
