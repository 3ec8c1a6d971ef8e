"""The same CCT on TensorFlow, JAX (and PyTorch when installed)."""

import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tests.helpers import tiny_cct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

SCRIPT = """
import json, sys
import numpy as np
import keras, keras_snp
model = keras.models.load_model(sys.argv[1])
x = np.load(sys.argv[2])
out = model.predict(x, verbose=0)
model.compile("adam", keras.losses.CategoricalCrossentropy(from_logits=True))
y = np.eye(5)[np.arange(len(x)) % 5]
loss = model.train_on_batch(x, y)
np.save(sys.argv[3], out)
print(json.dumps({"backend": keras.backend.backend(), "loss": float(loss)}))
"""


def _run(backend, model_path, x_path, out_path):
    env = dict(
        os.environ,
        KERAS_BACKEND=backend,
        TF_CPP_MIN_LOG_LEVEL="3",
        PYTHONPATH=ROOT,
    )
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, model_path, x_path, out_path],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


BACKENDS = ["jax"] + (["torch"] if importlib.util.find_spec("torch") else [])


@pytest.mark.parametrize("backend", BACKENDS)
def test_same_outputs_and_trains(backend, tmp_path):
    model = tiny_cct()
    x = np.random.default_rng(0).uniform(0, 255, (4, 16, 16, 3))
    x = x.astype("float32")
    expected = model.predict(x, verbose=0)
    model_path, x_path = str(tmp_path / "m.keras"), str(tmp_path / "x.npy")
    model.save(model_path)
    np.save(x_path, x)
    out_path = str(tmp_path / "out.npy")
    info = _run(backend, model_path, x_path, out_path)
    assert info["backend"] == backend
    assert np.isfinite(info["loss"])
    np.testing.assert_allclose(np.load(out_path), expected, atol=1e-4)
