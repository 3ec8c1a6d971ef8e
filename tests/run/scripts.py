"""Runs the scripts as a user would: subprocesses, exit codes, stderr."""

import os
import subprocess
import sys

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)

QUICK = [
    "--dataset",
    "synthetic",
    "--variant",
    "cct_2_3x2",
    "--image-size",
    "16",
    "--examples-per-class",
    "12",
    "--num-classes",
    "4",
    "--batch-size",
    "16",
    "--quiet",
]


def _script_env(env):
    full_env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
    full_env.update(env or {})
    return full_env


def start_script(name, *args):
    """The script running in the background; stdout dropped, stderr piped
    as text (the one-line errors the tests read)."""
    return subprocess.Popen(
        [sys.executable, os.path.join(ROOT, "scripts", name), *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_script_env(None),
    )


def run_script(name, *args, env=None, timeout=600):
    full_env = _script_env(env)
    return subprocess.run(
        [sys.executable, os.path.join(ROOT, "scripts", name), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def event_tags(log_dir):
    """Every summary tag in the TensorBoard event files under `log_dir`."""
    import tensorflow as tf

    tags = set()
    for root, _, files in os.walk(log_dir):
        for name in files:
            if "tfevents" not in name:
                continue
            for event in tf.compat.v1.train.summary_iterator(
                os.path.join(root, name)
            ):
                tags.update(v.tag for v in event.summary.value)
    return tags
