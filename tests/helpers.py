"""Shared test helpers: the Keras TestCase and one tiny CCT."""

import json
import os
import subprocess
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from keras.src.testing import TestCase as KerasTestCase  # noqa: E402

from keras_snp.models import build_cct  # noqa: E402


class TestCase(KerasTestCase):
    """Keras's (private) TestCase, with `assertAllEqual` as numpy's: in
    Keras 3.12 it compares whole arrays with `assertEqual`, which fails on
    any array of more than one element."""

    def assertAllEqual(self, x1, x2, msg=None):
        np.testing.assert_array_equal(
            np.asarray(x1), np.asarray(x2), err_msg=msg or ""
        )


__all__ = ["TestCase", "run_on_jax", "run_python", "tiny_cct"]

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_python(code, *args, **env):
    """Runs `code` with `args` in a fresh `KERAS_BACKEND=jax` process (or
    `env`'s backend) from the repo root; asserts it exits 0, returns it."""
    env = {
        **os.environ,
        "KERAS_BACKEND": "jax",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


def run_on_jax(test, code):
    """`run_python` on JAX; the JSON after its last `RESULT ` line."""
    done = run_python(code)
    lines = [x for x in done.stdout.splitlines() if x.startswith("RESULT")]
    return json.loads(lines[-1][len("RESULT ") :])


def tiny_cct(num_classes=5, image_size=16, **overrides):
    """A 2-encoder, 2-head, width-16 CCT that builds and runs in a second."""
    settings = dict(
        num_layers=2,
        num_heads=2,
        embed_dim=16,
        mlp_ratio=2,
        kernel_size=3,
        num_convs=1,
        intermediate_dim=8,
    )
    settings.update(overrides)
    return build_cct(
        "cct_2_3x2", num_classes=num_classes, image_size=image_size, **settings
    )


def tiny_run_config(output_dir, **overrides):
    """The `RunConfig` of a quick synthetic run: CCT-2/3x2 at 16 px, 3
    classes of 8 training images, one epoch, quiet. Its readouts use the
    cached solver (`lbfgs`: two forwards per tap, about half the SNP time
    of the default `stream`), since the tests that use it are not about the
    solver; `tests/snp/stream_test.py` and the end-to-end CLI run of
    `tests/run/full_pipeline_test.py` run the default."""
    from keras_snp.run.config import RunConfig

    settings = dict(
        dataset="synthetic",
        variant="cct_2_3x2",
        image_size=16,
        epochs=1,
        batch_size=8,
        num_classes=3,
        examples_per_class=8,
        output_dir=str(output_dir),
        run_name="r",
        readout_solver="lbfgs",
        verbose=0,
    )
    settings.update(overrides)
    return RunConfig(**settings)
