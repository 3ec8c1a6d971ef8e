"""The models committed under `saved_models/` load as a new user loads
them, and the README's first example runs as written."""

import contextlib
import glob
import io
import json
import os
import re

import keras
import numpy as np
import pytest

import keras_snp  # noqa: F401  (registers the layers)
from keras_snp.heads import read_heads_report
from tests.helpers import ROOT


def nonzero_weights(model):
    return sum(
        int(np.count_nonzero(keras.ops.convert_to_numpy(w)))
        for w in model.weights
    )


SHIPPED = sorted(
    os.path.dirname(p)
    for p in glob.glob(os.path.join(ROOT, "saved_models", "*", "ABOUT.md"))
)


def test_at_least_one_model_is_shipped():
    assert SHIPPED, "saved_models/<name>/ holds no shipped model"


@pytest.mark.parametrize("folder", SHIPPED, ids=os.path.basename)
def test_shipped_models_load_and_predict(folder):
    model = keras.models.load_model(os.path.join(folder, "model.keras"))
    pruned = keras.models.load_model(
        os.path.join(folder, "pruned", "model.keras")
    )
    size = model.input_shape[1]
    images = np.random.default_rng(0).uniform(0, 255, (2, size, size, 3))
    out, out_pruned = (
        model.predict(images, verbose=0),
        pruned.predict(images, verbose=0),
    )
    report = read_heads_report(folder)
    K = report["num_classes"]
    assert out.shape == out_pruned.shape == (2, K)
    with open(os.path.join(folder, "pruning.json"), encoding="utf-8") as f:
        summary = json.load(f)
    pruned_away = summary["prunable_connections"] - summary["kept_connections"]
    assert pruned_away > 0
    assert nonzero_weights(model) - nonzero_weights(pruned) == pruned_away
    heads = [h for e in report["encoders"] for h in e["heads"]]
    assert heads and all(len(h["labels"]) == h["num_labels"] for h in heads)


def test_readme_first_example_prints_head_experts():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    code = re.search(r"```python\n(.*?)```", readme, re.S).group(1)
    assert "load_model" in code and "saved_models/" in code
    printed = io.StringIO()
    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        with contextlib.redirect_stdout(printed):
            exec(compile(code, "README.md", "exec"), {})
    finally:
        os.chdir(cwd)
    lines = printed.getvalue().strip().splitlines()
    assert len(lines) >= 2
    assert any("encoder 1 head 0" in line for line in lines)
