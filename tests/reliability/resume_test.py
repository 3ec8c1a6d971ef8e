"""Kill a real training process with SIGKILL, resume it, lose nothing."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.run.scripts import ROOT
from tests.run.scripts import run_script

# End to end through subprocesses: CI runs them at the highest Keras only.
pytestmark = pytest.mark.slow

EPOCHS = 4
ARGS = [
    "--dataset",
    "synthetic",
    "--variant",
    "cct_2_3x2",
    "--image-size",
    "16",
    "--num-classes",
    "4",
    "--examples-per-class",
    "80",
    "--batch-size",
    "16",
    "--epochs",
    str(EPOCHS),
    "--stages",
    "train",
    "export",
]


def _history(run):
    try:
        with open(run / "run.json") as f:
            return json.load(f)["history"]
    except (OSError, ValueError):
        return []


def _kill_after_first_checkpoint(tmp_path):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    proc = subprocess.Popen(
        [
            sys.executable,
            os.path.join(ROOT, "scripts", "train.py"),
            *ARGS,
            "--quiet",
            "--output-dir",
            str(tmp_path),
            "--run-name",
            "k",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=env,
    )
    deadline = time.time() + 300
    try:
        while time.time() < deadline and proc.poll() is None:
            if (
                tmp_path / "k" / "checkpoints" / "backup" / "checkpoint.json"
            ).exists():
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.02)
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode


def _expected_learning_rates(steps):
    from keras_snp.training import recipe as recipe_lib

    recipe = recipe_lib.make_recipe("light", 0.001, 0.03, warmup_epochs=0)
    schedule = recipe_lib.learning_rate_schedule(recipe, EPOCHS, steps)
    return [float(schedule(e * steps)) for e in range(1, EPOCHS + 1)]


def test_sigkill_then_resume_continues(tmp_path):
    code = _kill_after_first_checkpoint(tmp_path)
    assert code == -signal.SIGKILL, "the run ended before it was killed"
    run = tmp_path / "k"
    before = _history(run)
    killed_at = len(before)
    assert 1 <= killed_at < EPOCHS
    state = json.loads((run / "run.json").read_text())
    assert "train" not in state["stages"]
    pointer = json.loads(
        (run / "checkpoints" / "backup" / "checkpoint.json").read_text()
    )
    # run.json may be one epoch ahead of the checkpoint (killed between
    # the two writes); that epoch is redone and its entry replaced.
    assert pointer["epoch"] in (killed_at, killed_at - 1)
    assert pointer["epoch"] >= 1

    done = run_script(
        "train.py",
        *ARGS,
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "k",
        "--resume",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        f"resumed from the checkpoint of epoch {pointer['epoch']}"
        in done.stdout
    )
    assert "Epoch 1/" not in done.stdout  # no restart from scratch
    state = json.loads((run / "run.json").read_text())
    history = state["history"]
    assert [h["epoch"] for h in history] == list(range(1, EPOCHS + 1))
    # Epochs finished before the kill are kept as they were.
    for old, new in zip(before[: pointer["epoch"]], history):
        assert old == new
    # The schedule continued: the learning rate of every epoch is the
    # schedule at (epoch x steps) optimizer iterations.
    steps = int(np.ceil(state["dataset"]["split_sizes"]["train"] / 16))
    np.testing.assert_allclose(
        [h["learning_rate"] for h in history],
        _expected_learning_rates(steps),
        rtol=1e-5,
    )
    assert len(state["resumed_at"]) == 1
    assert set(state["stages"]) == {"train", "export"}
    assert not [n for n in os.listdir(run) if n.startswith(".")]

    # Resuming a finished run redoes nothing.
    stamps = {k: v["finished_at"] for k, v in state["stages"].items()}
    mtime = os.path.getmtime(run / "model.keras")
    again = run_script(
        "train.py",
        *ARGS,
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "k",
        "--resume",
    )
    assert again.returncode == 0, again.stderr[-3000:]
    assert "[train] done before, skipped" in again.stdout
    state = json.loads((run / "run.json").read_text())
    assert {k: v["finished_at"] for k, v in state["stages"].items()} == stamps
    assert os.path.getmtime(run / "model.keras") == mtime
    assert len(state["history"]) == EPOCHS
