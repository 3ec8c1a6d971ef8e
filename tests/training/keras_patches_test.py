"""The two Keras workarounds in `training/strategy.py` replace private
Keras functions; these tests fail loudly when Keras changes them or when
the declared version range drifts from the guard."""

import hashlib
import inspect
import os
import re

import keras
import pytest

from keras_snp.training import strategy

tf_trainer = pytest.importorskip("keras.src.backend.tensorflow.trainer")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))

# sha256 of the source of each patched or relied-on function, identical in
# Keras 3.12.0 and 3.15.1 (the ends of the supported range). A new Keras
# that changes one of them must be checked against keras-team/keras#20585
# before its hash is added here.
KNOWN_SOURCES = {
    "TensorFlowTrainer._maybe_symbolic_build": "92a504f5eba9b29f",
    "reduce_per_replica": "2e7d54b1e6edc29a",
    "_collective_all_reduce_multi_worker": "0302369d850e6694",
}


def _digest(function):
    source = inspect.getsource(function).encode()
    return hashlib.sha256(source).hexdigest()[:16]


def test_patched_functions_are_the_ones_the_workarounds_were_written_for():
    symbolic_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    collective = tf_trainer._collective_all_reduce_multi_worker
    functions = {
        "TensorFlowTrainer._maybe_symbolic_build": symbolic_build,
        "reduce_per_replica": tf_trainer.reduce_per_replica,
        "_collective_all_reduce_multi_worker": collective,
    }
    changed = {
        name: _digest(f)
        for name, f in functions.items()
        if _digest(f) != KNOWN_SOURCES[name]
    }
    assert not changed, (
        f"Keras {keras.version()} changed {sorted(changed)}: re-check the "
        "workarounds in keras_snp/training/strategy.py"
    )


def test_guard_range_is_the_declared_dependency_range():
    text = open(os.path.join(ROOT, "pyproject.toml")).read()
    low, high = re.search(r'"keras>=([\d.]+),<([\d.]+)"', text).groups()
    as_tuple = lambda v: tuple(int(p) for p in v.split("."))  # noqa: E731
    assert (as_tuple(low), as_tuple(high)) == strategy.PATCHED_KERAS
    assert strategy.keras_is_patchable()  # the installed Keras is in range


def test_guard_refuses_versions_outside_the_range():
    assert strategy.keras_is_patchable("3.12.0")
    assert strategy.keras_is_patchable("3.15.1")
    assert not strategy.keras_is_patchable("3.11.3")
    assert not strategy.keras_is_patchable("3.16.0")
