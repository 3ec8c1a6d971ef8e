import json

import pytest

from tests.helpers import run_python

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


@pytest.mark.slow
def test_callback_under_mirrored_strategy(tmp_path):
    proc = run_python(MIRRORED, str(tmp_path), KERAS_BACKEND="tensorflow")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    assert report == {"replicas": 2, "results": [1]}
    summary = json.load(open(tmp_path / "summary.json"))
    assert summary["taps"]["encoder_2_out"]["nodes"] == 16
