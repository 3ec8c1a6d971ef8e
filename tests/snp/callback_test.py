import glob
import json
import os
import subprocess
import sys

import numpy as np
import pytest

import keras

from keras_snp.snp import SNPCallback
from tests.helpers import tiny_cct
from tests.snp.toy import toy_batches

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
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
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(
        from_logits=True))
    history = model.fit(X, Y, batch_size=20, epochs=epochs, shuffle=False,
                        verbose=0, callbacks=callbacks)
    return model, history.history


def test_callback_logs_saves_and_resets(tmp_path):
    log_dir, out = str(tmp_path / "logs" / "snp"), str(tmp_path / "snp")
    callback = SNPCallback(
        BATCHES, BATCHES, taps=["encoder_1_ff_hidden", "encoder_2_ff_hidden"],
        every_n_epochs=1, readout_epochs=1, log_dir=log_dir,
        output_dir=out, batch_size=20, scale_batches=1, verbose=0)
    _, plain = _fit([])
    model, history = _fit([callback])
    assert history == plain  # fit history untouched
    assert sorted(callback.results) == [1, 2]
    tags = _events(log_dir)
    assert tags["encoder_1_ff_hidden/readout_accuracy"] == {1, 2}
    assert tags["encoder_2_ff_hidden/snr"] == {1, 2}
    assert {1, 2} <= tags["trend/ff/mean_noise_slope"]
    assert "encoder_1_ff_hidden/nodes" in tags
    assert "depth_profile" in tags
    summary = json.load(open(os.path.join(out, "summary.json")))
    assert set(summary["taps"]) == {"encoder_1_ff_hidden",
                                    "encoder_2_ff_hidden"}
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


MIRRORED = """
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras
from keras_snp.snp import SNPCallback
from tests.helpers import tiny_cct
from tests.snp.toy import toy_batches
batches = toy_batches(40, seed=3)
x = np.concatenate([b[0] for b in batches])
y = np.concatenate([b[1] for b in batches])
strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
with strategy.scope():
    model = tiny_cct()
    model.compile(optimizer="adam", loss=keras.losses.
                  SparseCategoricalCrossentropy(from_logits=True))
before = [w.copy() for w in model.get_weights()]
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(20)
callback = SNPCallback(ds, ds, taps=["encoder_2_out"], readout_epochs=1,
                       output_dir=sys.argv[1], batch_size=20,
                       scale_batches=1, verbose=0)
model.fit(ds, epochs=1, verbose=0, callbacks=[callback])
print(json.dumps({"replicas": strategy.num_replicas_in_sync,
                  "results": sorted(callback.results)}))
"""


def test_callback_under_mirrored_strategy(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", KERAS_BACKEND="tensorflow",
               PYTHONPATH=ROOT)
    proc = subprocess.run([sys.executable, "-c", MIRRORED, str(tmp_path)],
                          cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"replicas": 2, "results": [1]}
    summary = json.load(open(tmp_path / "summary.json"))
    assert summary["taps"]["encoder_2_out"]["nodes"] == 16
