import keras
import numpy as np
import pytest
from keras import ops

from keras_snp.sites import ablate
from keras_snp.sites import ablation_effect
from keras_snp.sites import detect
from keras_snp.sites import find_sites
from keras_snp.sites import layer_at
from keras_snp.sites import per_label_accuracy
from keras_snp.sites import register_adapter
from keras_snp.sites import run_with_cache
from keras_snp.sites import sites_of_layers
from keras_snp.sites.adapters import ADAPTERS
from tests.helpers import run_on_jax
from tests.helpers import tiny_cct
from tests.sites import models


def test_flat_attention_sites_and_heads():
    sites = find_sites(models.flat_attention())
    assert [(s.name, s.kind, s.shape) for s in sites] == [
        ("block_1_mha", "mha", (4, 2, 3)),
        ("block_1_ff", "ff", (4, 16)),
    ]
    mha = sites[0]
    assert (mha.nodes, mha.tokens, mha.num_heads) == (6, 4, 2)
    assert mha.head.tolist() == [0, 0, 0, 1, 1, 1]
    assert mha.nodes_of_heads([1]).tolist() == [3, 4, 5]
    assert sites[1].head.tolist() == [-1] * 16


def test_nested_blocks_are_found_inside_their_layer():
    model = models.nested_attention(blocks=2)
    sites = find_sites(model)
    assert detect(model).name == "attention"
    assert [(s.name, s.path, s.shape) for s in sites] == [
        ("block_1_mha", ("encoder_block_0", "attention"), (5, 2, 4)),
        ("block_1_ff", ("encoder_block_0", "mlp_1"), (5, 12)),
        ("block_1_out", ("encoder_block_0",), (5, 8)),
        ("block_2_mha", ("encoder_block_1", "attention"), (5, 2, 4)),
        ("block_2_ff", ("encoder_block_1", "mlp_1"), (5, 12)),
        ("block_2_out", ("encoder_block_1",), (5, 8)),
    ]


def test_nested_cache_is_the_projection_input():
    model = models.nested_attention(blocks=1)
    x = np.random.default_rng(0).normal(size=(3, 5, 8)).astype("float32")
    _, cache = run_with_cache(model, x, find_sites(model))
    block = layer_at(model, ("encoder_block_0",))
    # the slow obvious reference: the block's computation by hand
    y = block.norm(x)
    attended = block.attention(y, y)
    projected = block.attention._output_dense(cache["block_1_mha"])
    np.testing.assert_allclose(
        ops.convert_to_numpy(projected),
        ops.convert_to_numpy(attended),
        atol=1e-5,
    )
    hidden = block.mlp_1(ops.add(x, attended))
    np.testing.assert_allclose(
        cache["block_1_ff"], ops.convert_to_numpy(hidden), atol=1e-5
    )
    np.testing.assert_allclose(
        cache["block_1_out"], ops.convert_to_numpy(block(x)), atol=1e-5
    )


def test_cct_sites_carry_its_names_and_heads():
    model = tiny_cct()
    sites = find_sites(model)
    assert detect(model).name == "cct"
    assert [s.name for s in sites[:3]] == [
        "encoder_1_mha",
        "encoder_1_ff_hidden",
        "encoder_1_out",
    ]
    assert [s.kind for s in sites[:3]] == ["mha", "ff", "res"]
    mha = model.get_layer("encoder_1_mha")
    assert sites[0].head.tolist() == list(mha.head_of_node)
    assert sites[0].num_heads == 2 and len(sites) == 6


def test_cnn_sites_every_conv_in_its_block():
    sites = find_sites(models.small_cnn())
    assert [(s.name, s.kind, s.block, s.shape) for s in sites] == [
        ("block1_conv1", "conv", 1, (6, 6, 4)),
        ("block2_conv1", "conv", 2, (1, 1, 6)),
    ]
    assert sites[0].tokens == 36 and sites[0].nodes == 4


def test_vgg16_is_read_as_a_cnn():
    model = keras.applications.VGG16(
        weights=None, input_shape=(32, 32, 3), classes=10
    )
    sites = find_sites(model)
    assert detect(model).name == "conv"
    assert len(sites) == 13
    assert sorted({s.block for s in sites}) == [1, 2, 3, 4, 5]
    assert sites[-1].shape == (2, 2, 512)


def test_ablation_equals_a_hand_masked_copy_and_leaves_the_model_intact():
    report = models.ablation_errors()
    for key, value in report.items():
        if key.endswith("/changed"):
            assert value > 1e-4, (key, report)  # the ablation did something
        else:
            assert value < 1e-5, (key, report)
    flat = models.flat_attention()
    for site in find_sites(flat):
        assert "call" not in vars(layer_at(flat, site.path))


@pytest.mark.slow
def test_ablation_and_cache_on_jax():
    code = (
        "import json; from tests.sites import models\n"
        "print('RESULT', json.dumps(models.ablation_errors()))\n"
    )
    report = run_on_jax(None, code)
    assert len(report) > 8
    for key, value in report.items():
        if key.endswith("/changed"):
            assert value > 1e-4, (key, report)
        else:
            assert value < 1e-5, (key, report)


def test_ablation_effect_per_label():
    model = models.small_cnn(classes=3)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(30, 8, 8, 3)).astype("float32")
    labels = ops.convert_to_numpy(model(x)).argmax(-1)  # all correct
    data = [(x[:15], labels[:15]), (x[15:], labels[15:])]
    intact = per_label_accuracy(model, data, 3)
    present = np.bincount(labels, minlength=3) > 0
    assert np.all(intact[present] == 1.0)
    assert np.all(np.isnan(intact[~present]))
    site = find_sites(model)[-1]
    effect = ablation_effect(model, data, {site: np.arange(6)}, 3)
    with ablate(model, {site: np.arange(6)}):
        silenced = ops.convert_to_numpy(model(x)).argmax(-1)
    expected = np.array(
        [np.mean(silenced[labels == k] == k) - 1.0 for k in range(3)]
    )
    np.testing.assert_allclose(effect[present], expected[present])


def test_errors_name_what_was_looked_for():
    plain = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="fc")], name="mlp"
    )
    with pytest.raises(ValueError, match="No adapter reads model `mlp`"):
        find_sites(plain)
    with pytest.raises(ValueError, match="sites_of_layers"):
        find_sites(plain)
    site = sites_of_layers(plain, ["fc"])[0]
    assert site.shape == (3,) and site.tokens == 1
    with pytest.raises(ValueError, match="has no layer named `nope`"):
        sites_of_layers(plain, ["nope"])
    with pytest.raises(ValueError, match="adapter"):
        find_sites(plain, adapter="vit")
    with pytest.raises(ValueError, match="Nodes of `fc` are 0..2"):
        with ablate(plain, {site: [3]}):
            pass


def test_registered_adapter_is_tried_first():
    class Everything:
        name = "everything"

        def matches(self, model):
            return True

        def sites(self, model):
            return sites_of_layers(model, [model.layers[0].name])

    register_adapter(Everything())
    try:
        plain = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
        assert detect(plain).name == "everything"
        assert len(find_sites(plain)) == 1
    finally:
        ADAPTERS.pop(0)
    with pytest.raises(ValueError, match="needs a `matches"):
        register_adapter(object())
