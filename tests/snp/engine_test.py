import json
import os

import numpy as np
import pytest

from keras_snp.snp import SNPResult
from keras_snp.snp import compute_snp
from tests.helpers import tiny_cct
from tests.snp.toy import Probe
from tests.snp.toy import small_cnn
from tests.snp.toy import toy_batches

TRAIN = toy_batches(100, seed=1, onehot=True)
TEST = toy_batches(60, seed=2)
KEYS = {
    "layer",
    "kind",
    "encoder",
    "nodes",
    "tokens",
    "readout_accuracy",
    "mean_diag",
    "mean_diag_all",
    "mean_clusters",
    "mean_cluster_size",
    "empty_fraction",
    "mean_noise",
    "mean_noise_all",
    "snr",
    "snr_labels",
}


def test_cct_readouts_learn_and_files_follow_schema(tmp_path):
    model = tiny_cct()
    before = [w.copy() for w in model.get_weights()]
    result = compute_snp(
        model,
        TRAIN,
        TEST,
        batch_size=20,
        verbose=0,
        label_names=list("abcde"),
        solver="lbfgs",  # the toy is separable: stream needs ~60 views
    )
    for w0, w1 in zip(before, model.get_weights()):
        np.testing.assert_array_equal(w0, w1)
    accuracy = {n: t.readout_accuracy for n, t in result.taps.items()}
    assert max(accuracy.values()) > 0.6, accuracy  # chance is 0.2
    result.save(str(tmp_path), save_readouts=True)
    summary = json.load(open(os.path.join(tmp_path, "summary.json")))
    assert summary["theta"] == 0.3 and summary["readout"] == "flatten"
    assert len(summary["taps"]) == 6
    for name, stats in summary["taps"].items():
        assert KEYS <= set(stats), name
        assert stats["readout_accuracy"] == pytest.approx(accuracy[name])
        assert stats["convergence"]["converged"] is True, name
        assert stats["convergence"]["loss"] < np.log(5), name
    arrays = np.load(os.path.join(tmp_path, "snp.npz"))
    assert arrays["encoder_1_ff_hidden.V"].shape == (32, 5, 5)
    assert arrays["encoder_1_ff_hidden.V"].dtype == np.float32
    np.testing.assert_array_equal(
        arrays["encoder_2_mha.head"], [0] * 8 + [1] * 8
    )
    assert arrays["encoder_2_out.W"].shape == (5, 64, 16)
    loaded = SNPResult.load(str(tmp_path))
    assert loaded.summary()["taps"] == result.summary()["taps"]


def test_pooled_readout():
    result = compute_snp(
        tiny_cct(),
        TRAIN,
        TEST,
        taps=["encoder_2_out"],
        readout="pooled",
        batch_size=20,
        verbose=0,
    )
    tap = result.taps["encoder_2_out"]
    assert tap.W.shape == (5, 1, 16) and tap.tokens == 64
    assert tap.readout_accuracy > 0.6
    assert result.summary()["readout"] == "pooled"


@pytest.mark.parametrize(
    "settings, forwards",
    [
        # 3 scale batches + 2 epochs x 5 train batches + 3 test batches
        ({"solver": "lab", "epochs": 2, "scale": "rms"}, 3 + 2 * 5 + 3),
        # 3 views x 5 train batches (the cache) + 3 test batches
        ({"solver": "lbfgs", "views": 3}, 3 * 5 + 3),
        # the held-out view and 3 fresh views x 5 batches + 3 test batches
        ({"solver": "stream", "stream_views": 3}, (1 + 3) * 5 + 3),
    ],
)
def test_one_forward_per_batch_in_inference_mode(settings, forwards):
    model = small_cnn(probe=True)
    model(np.zeros((1, 16, 16, 3), "float32"), training=True)
    Probe.calls.clear()
    result = compute_snp(
        model,
        TRAIN,
        TEST,
        taps=["block_1", "block_2"],
        batch_size=20,
        scale_batches=3,
        run_eagerly=True,
        verbose=0,
        **settings,
    )
    # For both taps together: one readout per tap, one forward per batch.
    assert len(Probe.calls) == forwards
    assert all(flag is False for flag in Probe.calls), Probe.calls
    assert set(result.taps) == {"block_1", "block_2"}
    assert result.taps["block_2"].readout_accuracy > 0.4


def test_argument_errors():
    model = tiny_cct()
    with pytest.raises(ValueError, match="readout"):
        compute_snp(model, TRAIN, TEST, readout="mean")
    with pytest.raises(ValueError, match="one-shot"):
        compute_snp(model, iter(TRAIN), TEST, solver="lab", epochs=2)
    with pytest.raises(ValueError, match="one-shot"):
        compute_snp(model, iter(TRAIN), TEST, views=2)
    with pytest.raises(ValueError, match="solver='lab' only"):
        compute_snp(model, TRAIN, TEST, scale="rms")
    with pytest.raises(TypeError, match="Unknown `compute_snp` setting"):
        compute_snp(model, TRAIN, TEST, readout_epochs=2)
    with pytest.raises(ValueError, match="label_names"):
        compute_snp(model, TRAIN, TEST, label_names=["a"])
    with pytest.raises(ValueError, match="theta"):
        compute_snp(model, TRAIN, TEST, theta=2.0)


def test_cache_on_disk_gives_the_same_readouts(tmp_path):
    model = small_cnn()
    settings = dict(
        taps=["block_2"], batch_size=20, solver="lbfgs", views=2, verbose=0
    )
    memory = compute_snp(model, TRAIN, TEST, **settings)
    disk = compute_snp(
        model, TRAIN, TEST, cache_memory_gb=0, cache_dir=tmp_path, **settings
    )
    a, b = memory.taps["block_2"], disk.taps["block_2"]
    np.testing.assert_array_equal(a.W, b.W)
    np.testing.assert_array_equal(a.V, b.V)
    assert a.convergence["converged"] and b.convergence["converged"]
    assert list(tmp_path.iterdir()) == []  # the spilled files are removed


def test_fields_on_a_selection_split_are_kept_and_saved(tmp_path):
    model = tiny_cct()
    result = compute_snp(
        model,
        TRAIN,
        TEST,
        batch_size=20,
        verbose=0,
        taps=["encoder_1_mha"],
        selection_data=TEST,
        max_passes=30,
    )
    tap = result.taps["encoder_1_mha"]
    # The same readout on the same images: the same fields.
    np.testing.assert_allclose(tap.V_validation, tap.V, rtol=1e-6, atol=1e-7)
    result.save(str(tmp_path))
    loaded = SNPResult.load(str(tmp_path)).taps["encoder_1_mha"]
    np.testing.assert_array_equal(loaded.V_validation, tap.V_validation)
    plain = compute_snp(
        model,
        TRAIN,
        TEST,
        batch_size=20,
        verbose=0,
        taps=["encoder_1_mha"],
        max_passes=30,
    )
    assert plain.taps["encoder_1_mha"].V_validation is None


def test_compiled_forward_reads_what_the_eager_forward_reads():
    model = small_cnn()
    settings = dict(taps=["block_2"], batch_size=20, solver="lbfgs", views=1)
    compiled = compute_snp(model, TRAIN, TEST, verbose=0, **settings)
    eager = compute_snp(
        model, TRAIN, TEST, verbose=0, run_eagerly=True, **settings
    )
    a, b = compiled.taps["block_2"], eager.taps["block_2"]
    np.testing.assert_allclose(a.W, b.W, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(a.V, b.V, rtol=1e-4, atol=1e-5)
