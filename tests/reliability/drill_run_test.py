"""The fault drill on real runs: one finished tiny run, copied per test;
each fault ends in its one line (no traceback) and every earlier output
still verifies."""

import contextlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from keras_snp.run.folder import STAGING
from keras_snp.run.folder import first_unverified
from tests.run.scripts import QUICK
from tests.run.scripts import run_script
from tests.run.scripts import start_script

pytestmark = pytest.mark.slow

STAGES = ("train", "export", "snp", "heads")


def _flags(output_dir):
    return [
        *QUICK,
        "--epochs",
        "2",
        "--output-dir",
        str(output_dir),
        "--run-name",
        "r",
        "--stages",
        *STAGES,
        "--null-samples",
        "5",
        "--readout-solver",
        "lbfgs",  # fewer forwards; the drill is not about the solver
    ]


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("finished")
    done = run_script("train.py", *_flags(output_dir))
    assert done.returncode == 0, done.stderr[-3000:]
    return output_dir


@pytest.fixture
def run_copy(finished_run, tmp_path):
    shutil.copytree(finished_run, tmp_path, dirs_exist_ok=True)
    return tmp_path


def _state(output_dir):
    with open(output_dir / "r" / "run.json") as f:
        return json.load(f)


def _assert_all_verify(output_dir):
    state = _state(output_dir)
    for stage in STAGES:
        assert state["stages"][stage]["status"] == "done", stage
        assert first_unverified(output_dir / "r", state, stage) is None, stage


def _one_line(done, status, *words):
    assert done.returncode == status, done.stderr[-3000:]
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1, done.stderr
    for word in words:
        assert word in errors[0], errors[0]


def _strict(text):
    def refuse(name):
        raise ValueError(f"bare {name} in JSON")

    return json.loads(text, parse_constant=refuse)


def test_every_json_a_run_writes_parses_strictly(finished_run):
    found = 0
    for folder, _, names in os.walk(finished_run):
        for name in names:
            if name.endswith(".json"):
                with open(os.path.join(folder, name)) as f:
                    _strict(f.read())
                found += 1
    assert found >= 4  # run.json, snp/summary.json, heads/heads.json, ...


def test_redo_killed_midway_leaves_the_old_stage_whole(run_copy):
    heads = run_copy / "r" / "heads"
    before = {p.name: p.read_bytes() for p in heads.iterdir()}
    staging = run_copy / "r" / STAGING / "heads"
    process = start_script(
        "train.py", *_flags(run_copy), "--resume", "--redo", "heads"
    )
    deadline = time.monotonic() + 300
    while not staging.exists() and process.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert process.returncode == -signal.SIGKILL, "the redo ended first"
    assert {p.name: p.read_bytes() for p in heads.iterdir()} == before
    _assert_all_verify(run_copy)

    again = run_script("train.py", *_flags(run_copy), "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert not (run_copy / "r" / STAGING).exists()
    assert {p.name: p.read_bytes() for p in heads.iterdir()} == before


@pytest.mark.parametrize(
    "rel, words",
    [
        ("run.json", ("run.json is corrupt", "delete the run")),
        (
            "checkpoints/backup/checkpoint.json",
            ("checkpoint.json is corrupt", "delete that checkpoints folder"),
        ),
    ],
)
def test_corrupt_file_is_one_line_naming_it(run_copy, rel, words):
    run_json = run_copy / "r" / "run.json"
    state = json.loads(run_json.read_text())
    del state["stages"]["train"]  # training interrupted: it resumes
    run_json.write_text(json.dumps(state))
    path = run_copy / "r" / rel
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])
    done = run_script("train.py", *_flags(run_copy), "--resume")
    _one_line(done, 2, *words)


def test_a_run_that_diverged_is_not_analysed(run_copy):
    run_json = run_copy / "r" / "run.json"
    state = json.loads(run_json.read_text())
    state["history"][-1]["loss"] = 10 * state["history"][0]["loss"]
    run_json.write_text(json.dumps(state))
    done = run_script(
        "train.py", *_flags(run_copy), "--resume", "--redo", "snp"
    )
    _one_line(done, 2, "did not learn", "diverged", "--analyse-anyway")
    _assert_all_verify(run_copy)  # the old SNP stage is untouched


@contextlib.contextmanager
def _tmpfs(path, options):
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    path.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(path)],
        capture_output=True,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr!r}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


def test_disk_full_is_one_line_and_keeps_the_run_readable(tmp_path):
    with _tmpfs(tmp_path / "small", "size=1m") as small:
        done = run_script(
            "train.py", *QUICK, "--epochs", "1", "--output-dir", str(small)
        )
        _one_line(done, 1, "free space for a checkpoint", "--output-dir")
        for run_json in small.glob("*/run.json"):
            _strict(run_json.read_text())  # whole, not half-written


def test_read_only_output_folder_is_refused_before_tensorflow(tmp_path):
    with _tmpfs(tmp_path / "ro", "ro,size=1m") as read_only:
        start = time.monotonic()
        done = run_script("train.py", *_flags(read_only))
        _one_line(done, 2, "is not writable", "Read-only", "--output-dir")
        assert time.monotonic() - start < 5 + _python_start()


def _python_start():
    start = time.monotonic()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return math.ceil(time.monotonic() - start)
