"""Every `>>>` example in a keras_snp docstring runs, and prints what it
shows.

One test per module whose source holds `>>>`, found by reading the files
(so a module that fails to import fails its test instead of vanishing from
the list). Each example sees its module's globals, plus what the examples
take as imported, as Keras's docstrings do: `np`, `keras`, `ops` and
`keras_snp`. numpy prints scalars as in 1.x (`True`, not `np.True_`), so an
example shows the same output across the numpy range `pyproject.toml`
allows.
"""

import doctest
import importlib
import os

import keras
import numpy as np
import pytest
from keras import ops

import keras_snp

PACKAGE = os.path.dirname(os.path.abspath(keras_snp.__file__))
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def modules_with_examples():
    """The dotted names of the modules under `keras_snp/` whose source
    holds a `>>>` prompt."""
    names = []
    for root, dirs, files in os.walk(PACKAGE):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for file in sorted(files):
            if not file.endswith(".py"):
                continue
            path = os.path.join(root, file)
            with open(path, encoding="utf-8") as f:
                if ">>>" not in f.read():
                    continue
            relative = os.path.relpath(path, os.path.dirname(PACKAGE))
            name = relative[: -len(".py")].replace(os.sep, ".")
            names.append(name.removesuffix(".__init__"))
    return names


MODULES = modules_with_examples()


def numpy_1_printing():
    """`np.printoptions` printing scalars as numpy 1.x does."""
    if np.lib.NumpyVersion(np.__version__) >= "2.0.0":
        return np.printoptions(legacy="1.25")
    return np.printoptions()


def test_examples_were_found():
    assert len(MODULES) >= 20, MODULES
    assert "keras_snp.models.layers" in MODULES


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    tests = [
        test
        for test in doctest.DocTestFinder().find(module, name)
        if test.examples
    ]
    # `>>>` outside a docstring (a comment) would run nothing: say so.
    assert tests, f"{name} has `>>>` but no docstring example"
    namespace = {"np": np, "keras": keras, "ops": ops, "keras_snp": keras_snp}
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report = []
    attempted = failed = 0
    with numpy_1_printing():
        for test in tests:
            test.globs = {**namespace, **vars(module)}
            result = runner.run(test, out=report.append)
            attempted += result.attempted
            failed += result.failed
    assert attempted > 0
    assert failed == 0, "".join(report)
