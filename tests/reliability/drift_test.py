"""Settings that cannot drift: `--resume` refuses to change what a stage
that has run was made with, unless that stage is redone."""

import dataclasses
import json

import pytest

from keras_snp.run.config import RunConfig
from keras_snp.run.folder import RunFolder
from keras_snp.run.folder import unlock_run
from keras_snp.utils import UsageError

BASE = RunConfig(epochs=4, learning_rate=1e-3, run_name="r")


def _run(tmp_path, stages=(), history=()):
    folder = RunFolder.create(str(tmp_path), "r", BASE)
    for stage in stages:
        folder.finish_stage(stage, {})
    folder.update(history=list(history))
    unlock_run(folder.path)
    return folder.path


def _resume(tmp_path, redo=(), base=BASE, **changes):
    config = dataclasses.replace(base, **changes)
    try:
        return RunFolder.create(
            str(tmp_path), "r", config, resume=True, redo=redo
        )
    finally:
        unlock_run(str(tmp_path / "r"))


@pytest.mark.parametrize(
    "change",
    [{"learning_rate": 0.0375}, {"epochs": 8}, {"weight_decay": 0.5}],
)
def test_interrupted_training_refuses_new_training_settings(tmp_path, change):
    path = _run(tmp_path, history=[{"epoch": 1}])
    ((key, value),) = change.items()
    with pytest.raises(UsageError) as error:
        _resume(tmp_path, **change)
    line = str(error.value)
    assert "\n" not in line and f"{key}={getattr(BASE, key)!r}" in line
    assert f"not {value!r}" in line and "--redo train" in line
    saved = json.load(open(f"{path}/run.json"))["config"]
    assert saved[key] == getattr(BASE, key)  # run.json not rewritten


def test_finished_stage_refuses_its_settings_but_later_stages_may_change(
    tmp_path,
):
    _run(tmp_path, stages=["train", "export"], history=[{"epoch": 4}])
    with pytest.raises(UsageError, match="learning_rate=0.001"):
        _resume(tmp_path, learning_rate=0.01)
    # snp has not run: its settings are free, and recorded for it
    folder = _resume(tmp_path, theta=0.2, readout_views=4)
    assert folder.state["config"]["theta"] == 0.2
    folder.finish_stage("snp", {})
    assert folder.state["stages"]["snp"]["settings"]["readout_views"] == 4
    # --redo of the stage takes the new value
    redone = _resume(
        tmp_path, redo=("train",), epochs=6, theta=0.2, readout_views=4
    )
    assert redone.state["config"]["epochs"] == 6


def test_a_done_stage_verifies_its_files(tmp_path):
    folder = RunFolder.create(str(tmp_path), "r", BASE)
    try:
        heads = tmp_path / "r" / "heads"
        heads.mkdir()
        (heads / "heads.json").write_text('{"encoders": []}')
        (heads / "heads.md").write_text("# heads")
        folder.finish_stage("heads", {})
        files = folder.state["stages"]["heads"]["files"]
        assert set(files) == {"heads/heads.json", "heads/heads.md"}
        assert folder.verify_stage("heads") is None
        (heads / "heads.json").write_text("")  # emptied
        assert folder.verify_stage("heads") == "heads/heads.json"
        (heads / "heads.json").write_text('{"encoders": [1]}')  # same size
        (heads / "heads.json").write_text('{"encoders": [9]}')
        assert folder.verify_stage("heads") == "heads/heads.json"
        (heads / "heads.json").unlink()
        assert folder.verify_stage("heads") == "heads/heads.json"
    finally:
        unlock_run(folder.path)


@pytest.mark.parametrize(
    "solver, unread, read",
    [
        ("lbfgs", {"readout_stream_views": 7}, {"readout_views": 3}),
        ("stream", {"readout_views": 3}, {"readout_stream_views": 7}),
        ("lab", {"readout_tolerance": 0.5}, {"snp_epochs": 3}),
    ],
)
def test_a_setting_the_runs_solver_does_not_read_may_change(
    tmp_path, solver, unread, read
):
    base = dataclasses.replace(BASE, readout_solver=solver)
    folder = RunFolder.create(str(tmp_path), "r", base)
    folder.finish_stage("snp", {})
    unlock_run(folder.path)
    # e.g. a new default of another solver's setting
    _resume(tmp_path, base=base, **unread)
    ((key, value),) = read.items()
    with pytest.raises(UsageError, match=f"snp stage .* ran with {key}="):
        _resume(tmp_path, base=base, **read)
