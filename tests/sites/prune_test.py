"""ANDC on models that are not keras_snp CCTs (`keras_snp.prune`)."""

import keras
import numpy as np
import pytest
from keras import ops

import keras_snp
from keras_snp.pruning.any_model import andc_masks
from keras_snp.pruning.any_model import connection_sites
from keras_snp.pruning.any_model import connections
from keras_snp.sites import layer_at
from keras_snp.snp import compute_snp
from tests.sites import models

# end-to-end (training, fine-tunes, saved models): run once in CI, at the
# highest Keras
pytestmark = pytest.mark.slow


def _batches(shape, classes, n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    y = rng.integers(0, classes, n)
    return [(x[i : i + 16], y[i : i + 16]) for i in range(0, n, 16)]


def _kernel(model, path):
    layer = layer_at(model, tuple(path.split("/")))
    if isinstance(layer, keras.layers.MultiHeadAttention):
        layer = layer._output_dense
    return ops.convert_to_numpy(layer.kernel)


def test_connections_of_an_attention_model_and_a_cnn():
    conns = connections(models.flat_attention())
    assert [
        (c.layer, c.reads.shape, c.writes and c.writes.shape) for c in conns
    ] == [
        ("attn", (4, 2, 3), (4, 8)),
        ("mlp", (4, 8), (4, 16)),
        ("mlp_out", (4, 16), (4, 8)),
        ("head", (8,), None),
    ]
    cnn = connections(models.small_cnn())
    # the first conv reads pixels: no label sets, never masked
    assert [c.layer for c in cnn] == ["block2_conv1", "classifier"]
    assert cnn[0].reads.shape == (3, 3, 4) and cnn[-1].writes is None


@pytest.fixture(scope="module")
def measured():
    keras.utils.set_random_seed(0)
    model = models.flat_attention(classes=4)
    batches = _batches((4, 8), 4)
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
    return model, batches, conns, snp


def test_masks_equal_the_slow_rule(measured):
    model, _, conns, snp = measured
    masks = andc_masks(conns, snp)
    for c in conns:
        d_in = snp.taps[c.reads.name].diagonal_mask(snp.theta)
        mask = masks[c.layer]
        if c.writes is None:
            assert np.array_equal(mask, d_in)
            continue
        d_out = snp.taps[c.writes.name].diagonal_mask(snp.theta)
        for u in range(d_in.shape[0]):
            for v in range(d_out.shape[0]):
                assert mask[u, v] == bool(np.any(d_in[u] & d_out[v]))


def test_pruned_copy_zeroes_exactly_the_masked_entries(measured, tmp_path):
    model, batches, conns, snp = measured
    before = [w.copy() for w in model.get_weights()]
    pruned = keras_snp.prune(model, snp)
    assert 0 < pruned.dilution < 1
    for c in conns:
        kernel, original = (
            _kernel(pruned.model, c.layer),
            _kernel(model, c.layer),
        )
        mask = pruned.masks[c.layer].reshape(-1)
        flat = (
            kernel.reshape(-1, kernel.shape[-1]) if kernel.ndim == 3 else kernel
        )
        kept = original.reshape(flat.shape)
        np.testing.assert_array_equal(
            flat, np.where(pruned.masks[c.layer], kept, 0.0)
        )
        assert mask.size == flat.size
    for a, b in zip(before, model.get_weights()):
        np.testing.assert_array_equal(a, b)  # the model itself is untouched
    path = tmp_path / "pruned.keras"
    pruned.model.save(path)
    loaded = keras.models.load_model(path)
    x = batches[0][0]
    np.testing.assert_allclose(
        ops.convert_to_numpy(loaded(x)),
        ops.convert_to_numpy(pruned.model(x)),
        atol=1e-6,
    )


def test_controls_keep_the_same_counts_and_fine_tune_keeps_zeros(measured):
    model, batches, conns, snp = measured
    andc = keras_snp.prune(model, snp)
    for method in ("random", "magnitude"):
        untuned = keras_snp.prune(model, snp, method=method)
        control = keras_snp.prune(
            model, snp, batches, method=method, fine_tune_epochs=1
        )
        assert len(control.history.history["loss"]) == 1
        # the fine-tune moved the kept weights away from the untuned copy
        moved = [
            np.abs(
                _kernel(control.model, c.layer)
                - _kernel(untuned.model, c.layer)
            ).max()
            for c in conns
        ]
        assert max(moved) > 1e-6
        for name, mask in control.masks.items():
            assert mask.sum() == andc.masks[name].sum()
            if method == "random":
                np.testing.assert_array_equal(
                    mask.sum(0), andc.masks[name].sum(0)
                )
        for c in conns:
            kernel = _kernel(control.model, c.layer).reshape(
                control.masks[c.layer].shape
            )
            assert np.all(kernel[~control.masks[c.layer]] == 0)
    with pytest.raises(ValueError, match="needs `train_data`"):
        keras_snp.prune(model, snp, fine_tune_epochs=1)
