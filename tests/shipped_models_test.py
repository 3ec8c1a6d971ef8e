"""The models committed under `saved_models/` load as a new user loads
them, and the README's first example runs as written."""

import contextlib
import glob
import importlib.util
import io
import json
import os
import re
import shutil
import zipfile

import keras
import numpy as np
import pytest

import keras_snp  # noqa: F401  (registers the layers)
from keras_snp.heads import read_heads_report
from keras_snp.run import export
from keras_snp.utils import UsageError
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


def readme_shipped_names():
    """The `saved_models/` folders the README's first section names."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("## A shipped model", 1)[1].split("\n## ", 1)[0]
    prose = re.sub(r"```.*?```", "", section, flags=re.S)
    return sorted(set(re.findall(r"`([\w.-]+)/`", prose)))


def test_every_model_the_readme_names_is_shipped():
    names = readme_shipped_names()
    assert "cifar100-cct_4_3x2-converged" in names
    shipped = {os.path.basename(folder) for folder in SHIPPED}
    assert set(names) <= shipped, f"README names {set(names) - shipped}"


@pytest.mark.skipif(
    shutil.which("git") is None
    or not os.path.isdir(os.path.join(ROOT, ".git")),
    reason="not a git checkout",
)
@pytest.mark.parametrize("folder", SHIPPED, ids=os.path.basename)
def test_shipped_models_are_not_ignored_by_git(folder):
    # saved_models/* is ignored (run folders land there by default): a
    # shipped folder needs its own `!saved_models/<name>/` in .gitignore.
    spec = importlib.util.spec_from_file_location(
        "ship_models", os.path.join(ROOT, "scripts", "ship_models.py")
    )
    ship_models = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship_models)
    for name in (
        "ABOUT.md",
        "model.keras",
        os.path.join("pruned", "model.keras"),
    ):
        path = os.path.join(folder, name)
        assert not ship_models.git_ignored(path), (
            f"{path} is git-ignored: add it to .gitignore"
        )


def skip_if_saved_with_newer_keras(folder):
    # Keras reads the files of its own version and older ones only (a
    # Dense of 3.15 carries `quantization_config`, which 3.12 refuses);
    # `pip install -e .` installs the newest Keras of the supported range.
    for name in ("model.keras", os.path.join("pruned", "model.keras")):
        newer = export.saved_with_newer_keras(os.path.join(folder, name))
        if newer:
            pytest.skip(
                f"saved with Keras {newer}, this is {keras.__version__}"
            )


@pytest.mark.parametrize("folder", SHIPPED, ids=os.path.basename)
def test_shipped_models_load_and_predict(folder):
    skip_if_saved_with_newer_keras(folder)
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


def test_a_model_from_a_newer_keras_names_the_upgrade(tmp_path):
    source = os.path.join(SHIPPED[0], "pruned", "model.keras")
    target = tmp_path / "future.keras"
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for item in old.infolist():
            data = old.read(item.filename)
            if item.filename == "metadata.json":
                data = json.dumps({"keras_version": "99.0.0"}).encode()
            elif item.filename == "config.json":
                # an argument a future Dense has and this Keras refuses
                data = data.replace(
                    b'"use_bias": false', b'"use_bias": false, "future": 1', 1
                )
            new.writestr(item, data)
    with pytest.raises(UsageError) as raised:
        export.load_model(target)
    message = str(raised.value)
    assert "saved with Keras 99.0.0" in message
    assert "pip install -U 'keras>=99.0.0'" in message
    assert "\n" not in message


def test_readme_first_example_prints_head_experts():
    skip_if_saved_with_newer_keras(
        os.path.join(ROOT, "saved_models", "cifar100-cct_4_3x2-converged")
    )
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
