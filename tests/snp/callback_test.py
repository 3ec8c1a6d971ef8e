import glob
import json
import os

import keras
import numpy as np
import pytest

from keras_snp.run.snp_board import snp_logger
from keras_snp.snp import SNPCallback
from tests.helpers import tiny_cct
from tests.snp.toy import toy_batches

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
BATCHES = toy_batches(40, seed=3)
X = np.concatenate([b[0] for b in BATCHES])
Y = np.concatenate([b[1] for b in BATCHES])


def _events(log_dir):
    import tensorflow as tf

    tags = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                tags.setdefault(value.tag, set()).add(event.step)
    return tags


def _fit(callbacks, epochs=2):
    keras.utils.set_random_seed(7)
    model = tiny_cct()
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(
        X,
        Y,
        batch_size=20,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=callbacks,
    )
    return model, history.history


def test_callback_logs_saves_and_resets(tmp_path):
    log_dir, out = str(tmp_path / "logs" / "snp"), str(tmp_path / "snp")
    callback = SNPCallback(
        BATCHES,
        BATCHES,
        taps=["encoder_1_ff_hidden", "encoder_2_ff_hidden"],
        every_n_epochs=1,
        solver="lbfgs",  # the callback's default: test_snp_during_training
        on_result=snp_logger(log_dir),
        output_dir=out,
        batch_size=20,
        scale_batches=1,
        verbose=0,
    )
    _, plain = _fit([])
    model, history = _fit([callback])
    assert history == plain  # fit history untouched
    assert sorted(callback.results) == [1, 2]
    tags = _events(log_dir)
    assert tags["encoder_1_ff_hidden/readout_accuracy"] == {1, 2}
    assert tags["encoder_2_ff_hidden/snr"] == {1, 2}
    assert {1, 2} <= tags["trend/ff/mean_noise_slope"]
    assert "snp/encoder_1_ff_hidden/nodes" in tags
    assert "snp/depth_profile" in tags
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert set(summary["taps"]) == {
        "encoder_1_ff_hidden",
        "encoder_2_ff_hidden",
    }
    assert os.path.exists(os.path.join(out, "epoch_0001", "snp.npz"))
    # A second fit with the same instance starts afresh.
    model.fit(X, Y, batch_size=20, epochs=1, verbose=0, callbacks=[callback])
    assert sorted(callback.results) == [1]


def test_callback_argument_errors():
    with pytest.raises(ValueError, match="every_n_epochs"):
        SNPCallback(BATCHES, BATCHES, every_n_epochs=0)
    with pytest.raises(ValueError, match="theta"):
        SNPCallback(BATCHES, BATCHES, theta=-1)
    with pytest.raises(ValueError, match="epochs"):
        SNPCallback(BATCHES, BATCHES, epochs=3)
