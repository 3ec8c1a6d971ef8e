"""Bad input through the scripts: one `error:` line, exit 2, no output."""

import json
import os

import keras
import numpy as np
import pytest

from keras_snp.cli import guarded
from keras_snp.cli.analyze import analyze_main
from keras_snp.cli.prune import prune_main
from keras_snp.cli.train import train_main
from tests.helpers import tiny_cct
from tests.run.scripts import QUICK
from tests.run.scripts import run_script
from tests.run.scripts import start_script


def _one_error(capsys_or_text):
    text = capsys_or_text
    lines = [l for l in text.strip().splitlines() if l.startswith("error:")]
    assert len(lines) == 1, text[-2000:]
    return lines[0]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A tiny CCT (4 classes, 16 px) saved as .keras, and broken copies."""
    root = tmp_path_factory.mktemp("models")
    model = tiny_cct(num_classes=4)
    good = root / "model.keras"
    model.save(good)
    data = good.read_bytes()
    (root / "truncated.keras").write_bytes(data[: len(data) // 2])
    (root / "garbage.keras").write_bytes(b"not a zip at all")
    inputs = keras.Input((16, 16, 3))
    plain = keras.Model(
        inputs,
        keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(inputs)),
        name="plain",
    )
    plain.save(root / "plain.keras")
    lam = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2.0)(inputs))
    lam.save(root / "lambda.keras")
    return root


def _analyze(capsys, *argv):
    code = guarded(analyze_main, [str(a) for a in argv])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    "name,message",
    [
        ("truncated.keras", "corrupt or truncated"),
        ("garbage.keras", "corrupt or truncated"),
        ("missing.keras", "No model file"),
        ("plain.keras", "No adapter reads model `plain`"),
        ("lambda.keras", "--unsafe"),
    ],
)
def test_analyze_refuses_bad_models(saved, tmp_path, capsys, name, message):
    out = tmp_path / "out"
    code, err = _analyze(
        capsys,
        saved / name,
        "--dataset",
        "synthetic",
        "--num-classes",
        "4",
        "--out",
        out,
        "--quiet",
    )
    assert code == 2
    assert message in _one_error(err)
    assert not out.exists()


def test_analyze_missing_taps_and_bad_theta(saved, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _analyze(
        capsys, saved / "model.keras", "--taps", "nope", "--out", out, "--quiet"
    )
    assert code == 2 and "--taps" in _one_error(err)
    for theta in ("0", "1", "-0.2", "1.5"):
        code, err = _analyze(
            capsys,
            saved / "model.keras",
            "--theta",
            theta,
            "--out",
            out,
            "--quiet",
        )
        assert code == 2 and "--theta" in _one_error(err)
    assert not out.exists()


def test_analyze_class_count_mismatch(saved, tmp_path, capsys):
    rng = np.random.default_rng(0)
    npz = tmp_path / "k3.npz"
    np.savez(
        npz,
        x_train=rng.uniform(0, 255, (12, 16, 16, 3)),
        y_train=np.arange(12) % 3,
        x_test=rng.uniform(0, 255, (6, 16, 16, 3)),
        y_test=np.arange(6) % 3,
    )
    out = tmp_path / "out"
    code, err = _analyze(
        capsys, saved / "model.keras", "--dataset", npz, "--out", out, "--quiet"
    )
    line = _one_error(err)
    assert code == 2 and "3 classes" in line and "predicts 4" in line
    assert not out.exists()


def test_safe_mode_loading(saved):
    from keras_snp.run import export as export_lib

    assert export_lib.load_model(saved / "lambda.keras", safe_mode=False)
    with pytest.raises(ValueError):
        keras.models.load_model(saved / "lambda.keras", safe_mode=True)


def test_prune_refuses_bad_runs(saved, tmp_path, capsys):
    code = guarded(prune_main, [str(tmp_path / "nothing"), "--quiet"])
    assert code == 2 and "run.json" in _one_error(capsys.readouterr().err)
    run = tmp_path / "run"
    (run / "snp").mkdir(parents=True)
    (run / "snp" / "snp.npz").write_bytes(b"")
    (run / "run.json").write_text(
        json.dumps({"config": {"dataset": "synthetic", "num_classes": 4}})
    )
    (run / "model.keras").write_bytes((saved / "truncated.keras").read_bytes())
    code = guarded(prune_main, [str(run), "--quiet"])
    assert code == 2
    assert "corrupt or truncated" in _one_error(capsys.readouterr().err)
    (run / "model.keras").write_bytes((saved / "lambda.keras").read_bytes())
    code = guarded(prune_main, [str(run), "--quiet"])
    assert code == 2 and "--unsafe" in _one_error(capsys.readouterr().err)
    assert not (run / "pruned").exists()


def test_resume_with_other_config_and_missing_run(tmp_path, capsys):
    base = [
        "--dataset",
        "synthetic",
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "r",
        "--quiet",
    ]
    code = guarded(train_main, [*base, "--resume"])
    assert code == 2 and "no run" in _one_error(capsys.readouterr().err)
    run = tmp_path / "r"
    run.mkdir()
    (run / "run.json").write_text(
        json.dumps(
            {
                "config": {"dataset": "synthetic", "seed": 7, "image_size": 16},
                "stages": {},
                "history": [],
            }
        )
    )
    code = guarded(
        train_main, [*base, "--resume", "--seed", "3", "--image-size", "16"]
    )
    line = _one_error(capsys.readouterr().err)
    assert code == 2 and "seed=7" in line and "other settings" in line
    assert os.listdir(run) == ["run.json"]


@pytest.mark.slow
def test_nan_loss_stops_with_exit_2(tmp_path):
    done = run_script(
        "train.py",
        *QUICK,
        "--epochs",
        "3",
        "--learning-rate",
        "1e9",
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "nan",
        "--stages",
        "train",
        "export",
    )
    assert done.returncode == 2, done.stderr[-3000:]
    line = _one_error(done.stderr)
    assert "NaN/Inf" in line and "--learning-rate" in line
    run = tmp_path / "nan"
    if "last good checkpoint" in line:
        pointer = json.loads(
            (run / "checkpoints" / "backup" / "checkpoint.json").read_text()
        )
        assert f"(epoch {pointer['epoch']})" in line
        assert str(run / "checkpoints" / "backup") in line
        state = json.loads((run / "run.json").read_text())
        assert all(np.isfinite(h["loss"]) for h in state["history"])
        assert "train" not in state["stages"]
    else:
        assert "no checkpoint" in line and not run.exists()
    assert not (run / "model.keras").exists()


@pytest.mark.slow
def test_same_run_name_started_twice_at_once(tmp_path):
    args = [
        *QUICK,
        "--epochs",
        "1",
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "twin",
        "--stages",
        "train",
    ]
    procs = [start_script("train.py", *args) for _ in range(2)]
    results = [(p.wait(timeout=300), p.stderr.read()) for p in procs]
    codes = sorted(code for code, _ in results)
    assert codes == [0, 2], results
    loser = [err for code, err in results if code == 2][0]
    assert "already exists" in _one_error(loser)
    assert os.listdir(tmp_path) == ["twin"]
    state = json.loads((tmp_path / "twin" / "run.json").read_text())
    assert state["stages"]["train"]["status"] == "done"
