"""Two MultiWorkerMirroredStrategy workers on 127.0.0.1 (real processes)."""

import glob
import json
import os
import socket
import subprocess
import sys

import pytest

from tests.run.scripts import QUICK
from tests.run.scripts import ROOT

# End to end through subprocesses: CI runs them at the highest Keras only.
pytestmark = pytest.mark.slow


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _start_workers(tmp_path, scratch, *extra):
    hosts = [f"127.0.0.1:{p}" for p in _free_ports(2)]
    procs = []
    for index in range(2):
        tf_config = {
            "cluster": {"worker": hosts},
            "task": {"type": "worker", "index": index},
        }
        env = dict(
            os.environ,
            TF_CPP_MIN_LOG_LEVEL="3",
            PYTHONPATH=ROOT,
            TF_CONFIG=json.dumps(tf_config),
            TMPDIR=str(scratch),
        )
        procs.append(
            subprocess.Popen(
                [
                    sys.executable,
                    os.path.join(ROOT, "scripts", "train.py"),
                    *QUICK,
                    "--epochs",
                    "1",
                    "--strategy",
                    "multi_worker",
                    "--output-dir",
                    str(tmp_path / "runs"),
                    "--run-name",
                    "mw",
                    "--stages",
                    "train",
                    "export",
                    *extra,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
        )
    results = []
    for proc in procs:
        try:
            out, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            for p in procs:
                p.kill()
            raise
        results.append((proc.returncode, err))
    return results


def test_two_workers_one_run_folder(tmp_path):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    results = _start_workers(tmp_path, scratch)
    for code, err in results:
        assert code == 0, err[-3000:]
    assert os.listdir(tmp_path / "runs") == ["mw"]
    run = tmp_path / "runs" / "mw"
    state = json.loads((run / "run.json").read_text())
    assert state["placement"]["kind"] == "multi_worker"
    assert state["placement"]["replicas"] == 2
    assert state["placement"]["is_chief"] is True
    assert [h["epoch"] for h in state["history"]] == [1]
    assert set(state["stages"]) == {"train", "export"}
    for path in (
        "model.keras",
        "saved_model/saved_model.pb",
        "checkpoints/backup/checkpoint.json",
    ):
        assert (run / path).exists(), path
    # The non-chief wrote its saves to a scratch folder and removed it.
    assert glob.glob(str(scratch / "keras_snp_worker_*")) == []
    assert not glob.glob(str(tmp_path / "runs" / "*" / ".*"))
