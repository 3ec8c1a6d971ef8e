"""OS faults and signals end in one line, never a traceback."""

import errno
import os
import signal
import subprocess
import sys

import pytest

from keras_snp.cli.common import guarded

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


@pytest.mark.parametrize(
    "code, fix",
    [
        (errno.ENOSPC, "free space on that disk, or pass another --output-dir"),
        (errno.EROFS, "read-only: pass a writable --output-dir"),
        (errno.EACCES, "pass a writable --output-dir"),
        (errno.EDQUOT, "quota"),
        (errno.ENOENT, "deleted or unmounted while the run"),
    ],
)
def test_os_fault_is_one_line_naming_path_and_fix(capsys, code, fix):
    def command(argv):
        raise OSError(code, os.strerror(code), "/runs/r/model.keras")

    assert guarded(command, []) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "/runs/r/model.keras" in err and fix in err


def test_other_os_errors_are_not_swallowed():
    def command(argv):
        raise OSError(errno.EIO, "I/O error")

    with pytest.raises(OSError):
        guarded(command, [])


@pytest.mark.parametrize(
    "sig, status, line",
    [
        (signal.SIGTERM, 143, "terminated (SIGTERM): finished stages"),
        (signal.SIGINT, 130, "interrupted: finished stages"),
    ],
)
def test_sigterm_and_sigint_say_resume_continues(sig, status, line):
    script = (
        f"import signal, sys, time; sys.path.insert(0, {ROOT!r})\n"
        # a test runner may have its children ignore SIGINT
        "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from keras_snp.cli.common import guarded\n"
        "def wait(argv):\n"
        "    print('ready', flush=True); time.sleep(30)\n"
        "sys.exit(guarded(wait, []))\n"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # as the command line does (keras_snp_entry.py): Keras, and
        # TensorFlow's start-up lines on stderr, only once a command runs
        env={**os.environ, "KERAS_SNP_DEFER_REGISTRATION": "1"},
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == status
    assert err.strip().startswith(line) and "--resume continues" in err
    assert "Traceback" not in err and err.count("\n") == 1


def test_json_is_strict_nan_and_inf_as_null(tmp_path):
    import json

    import numpy as np

    from keras_snp.utils import write_json

    path = tmp_path / "x.json"
    write_json(path, {"z": float("nan"), "v": [np.float32(np.inf), 1.5]})

    def refuse(name):
        raise ValueError(f"non-strict JSON constant {name}")

    data = json.loads(path.read_text(), parse_constant=refuse)
    assert data == {"z": None, "v": [None, 1.5]}
