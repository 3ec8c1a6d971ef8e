import os

import keras
import numpy as np
import pytest

from keras_snp.snp import SNPResult
from keras_snp.snp import group_logits
from keras_snp.snp import node_fields
from keras_snp.snp import resolve_taps
from keras_snp.snp.engine import SNPEngine
from keras_snp.snp.readout import ReadoutConfig
from keras_snp.snp.result import TapResult
from tests.helpers import tiny_cct
from tests.snp.toy import small_cnn
from tests.snp.toy import toy_batches

TRAIN, TEST = toy_batches(60, seed=1), toy_batches(40, seed=2)


def _engine(model, names, readout="flatten"):
    specs = resolve_taps(model, names)
    config = ReadoutConfig(
        readout=readout,
        solver="lab",
        epochs=1,
        batch_size=20,
        scale="rms",
        scale_batches=2,
    )
    engine = SNPEngine(model, specs, 5, config)
    engine.set_scale(TRAIN)
    engine.train(TRAIN, verbose=0)
    return engine, specs


def _silenced_reference(engine, index, nodes):
    """Zero the tap except node d, run the trained readout; mean per label."""
    sums = np.zeros((nodes, 5, 5))
    counts = np.zeros(5)
    for images, labels in TEST:
        tap = keras.ops.convert_to_numpy(engine.features(images)[index])
        for d in range(nodes):
            only_d = np.zeros_like(tap)
            only_d[..., d] = tap[..., d]
            logits = keras.ops.convert_to_numpy(engine.readouts[index](only_d))
            for i in range(5):
                sums[d, i] += logits[labels == i].sum(0)
        counts += np.bincount(labels, minlength=5)
    return sums / counts[None, :, None]


def _assert_rel(actual, expected, rel=1e-4):
    err = np.max(np.abs(actual - expected))
    assert err <= rel * np.max(np.abs(expected)), err


@pytest.mark.parametrize("readout", ["flatten", "pooled"])
def test_vectorised_matches_silencing_cct(readout):
    names = ["encoder_1_mha", "encoder_2_ff_hidden", "encoder_2_out"]
    engine, specs = _engine(tiny_cct(), names, readout)
    measured = engine.measure(TEST)
    for index, spec in enumerate(specs):
        V = measured[index][1]
        assert V.shape == (spec.nodes, 5, 5) and np.abs(V).max() > 0
        _assert_rel(V, _silenced_reference(engine, index, spec.nodes))


def test_vectorised_matches_silencing_cnn():
    engine, specs = _engine(small_cnn(), ["block_1", "block_2"])
    measured = engine.measure(TEST)
    for index, spec in enumerate(specs):
        _assert_rel(
            measured[index][1], _silenced_reference(engine, index, spec.nodes)
        )


def test_node_fields_by_hand():
    A = np.arange(2 * 3 * 2, dtype="float32").reshape(2, 3, 2)
    W = np.arange(4 * 3 * 2, dtype="float32").reshape(4, 3, 2) - 5
    scale = np.array([0.5, 2.0], "float32")
    phi = keras.ops.convert_to_numpy(node_fields(A, W, scale))
    b, d, c = 1, 1, 2
    expected = sum(W[c, t, d] * A[b, t, d] * scale[d] for t in range(3))
    np.testing.assert_allclose(phi[b, d, c], expected, rtol=1e-6)
    pooled = keras.ops.convert_to_numpy(
        node_fields(A, W[:, :1], scale, pooled=True)
    )
    np.testing.assert_allclose(
        pooled[b, d, c], W[c, 0, d] * A[b, :, d].mean() * scale[d], rtol=1e-6
    )


def test_group_logits_is_sum_of_nodes_and_full_readout():
    engine, specs = _engine(tiny_cct(), ["encoder_1_mha"])
    images, _ = TEST[0]
    tap = engine.features(images)[0]
    _, _, W, scale = engine.measure(TEST)[0]
    result = TapResult(
        "encoder_1_mha",
        "mha",
        1,
        np.zeros((16, 5, 5)),
        specs[0].head,
        64,
        W=W,
        scale=scale,
    )
    heads = specs[0].head[None] == np.arange(2)[:, None]
    per_head = group_logits(result, tap, heads)
    full = keras.ops.convert_to_numpy(engine.readouts[0](tap))
    assert per_head.shape == (20, 2, 5)
    _assert_rel(per_head.sum(1), full, 1e-4)
    _assert_rel(group_logits(result, tap, np.ones(16, bool)), full, 1e-4)
    with pytest.raises(ValueError, match="node_mask"):
        group_logits(result, tap, np.ones(3, bool))


def test_saved_readouts_reproduce_V(tmp_path):
    """From snp.npz (W, scale) and the tap activations alone, numpy gives V."""
    model = small_cnn()
    engine, specs = _engine(model, ["block_2"])
    acc, V, W, scale = engine.measure(TEST)[0]
    SNPResult(
        {
            "block_2": TapResult(
                "block_2", "other", None, V, specs[0].head, 64, acc, W, scale
            )
        }
    ).save(str(tmp_path), save_readouts=True)
    arrays = np.load(os.path.join(tmp_path, "snp.npz"))
    W, scale = arrays["block_2.W"], arrays["block_2.scale"]
    taps = keras.Model(model.inputs, model.get_layer("block_2").output)
    sums, counts = np.zeros((12, 5, 5)), np.zeros(5)
    for images, labels in TEST:
        A = taps.predict(images, verbose=0).reshape(len(labels), 64, 12)
        phi = np.einsum("btn,ktn->bnk", A.astype("float64") * scale, W)
        for i in range(5):
            sums[:, i] += phi[labels == i].sum(0)
        counts += np.bincount(labels, minlength=5)
    _assert_rel(arrays["block_2.V"], sums / counts[None, :, None])
