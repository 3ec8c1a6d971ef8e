"""One writer per run folder: an OS lock, refused in one line, released by
the kernel when the holder dies (kill -9 included)."""

import os
import signal
import subprocess
import sys
import time

import pytest

from keras_snp.run.folder import lock_run
from keras_snp.run.folder import unlock_run
from keras_snp.utils import UsageError

HOLD = (
    "import sys, time; sys.path.insert(0, {root!r}); "
    "from keras_snp.run.folder import lock_run; lock_run({run!r}); "
    "print('held', flush=True); time.sleep(60)"
)
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def _holder(run):
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD.format(root=ROOT, run=str(run))],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_second_writer_refused_then_free_after_kill_9(tmp_path):
    (tmp_path / "run.json").write_text("{}")
    proc = _holder(tmp_path)
    try:
        with pytest.raises(UsageError) as error:
            lock_run(tmp_path)
        line = str(error.value)
        assert "\n" not in line
        assert f"is being written by PID {proc.pid}" in line
        assert "(-c)" in line  # the holder's command line (python -c)
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    lock_run(tmp_path)  # the kernel released the dead holder's lock
    try:
        import json

        writer = json.loads((tmp_path / "run.json").read_text())["writer"]
        assert writer.startswith(f"PID {os.getpid()} ")
        assert os.listdir(tmp_path) == ["run.json"]  # no lock file
    finally:
        unlock_run(tmp_path)


def test_two_prunes_on_one_run_the_second_refused(tmp_path):
    from keras_snp.run.prune_run import load_context

    (tmp_path / "run.json").write_text("{}")
    proc = _holder(tmp_path)
    try:
        start = time.perf_counter()
        with pytest.raises(UsageError, match="is being written by PID"):
            load_context(str(tmp_path))
        assert time.perf_counter() - start < 5
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
