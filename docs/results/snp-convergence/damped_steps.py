"""Finding 10: the `stream` solver with each view's move damped to
min(1, C / t) of L-BFGS's, against the undamped solver (C = 0).

    python docs/results/snp-convergence/damped_steps.py 0 5

For each C: (1) the enumerable problem of tests/snp/stream_test.py, every
view known, the expected objective above its optimum after 20, 40 and 80
views, and where the convergence criterion fires (up to 200 views);
(2) a synthetic `train.py` run (48 training images, 4 classes, 16 px),
whether each tap's readout converged, after how many views, and its
held-out objective. The damping is a monkeypatch of `StreamState.step`:
it is not in the engine (rejected, see snp-convergence.md).
"""

import os
import sys
import tempfile

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, ROOT)
os.chdir(ROOT)

import pytest  # noqa: E402

pytest.fixture = lambda *a, **k: lambda f: f  # the test's case, as a call

import keras_snp.snp.stream as stream  # noqa: E402

UNDAMPED_STEP = stream.StreamState.step


def damp(c):
    def step(self, problem, passes, memory):
        start, average = self.v.copy(), self.average.copy()
        UNDAMPED_STEP(self, problem, passes, memory)
        if c > 0:
            self.v = start + min(1.0, c / self.steps) * (self.v - start)
            rate = (stream.AVERAGE_ETA + 1.0) / (
                self.steps + stream.AVERAGE_ETA
            )
            self.average = average + rate * (self.v - average)

    stream.StreamState.step = step


def enumerable(c):
    import tests.snp.stream_test as case_module

    model, train, problem, optimum = case_module.case()
    for views in (20, 40, 80):
        tap = case_module.snp(
            model,
            train,
            solver="stream",
            stream_views=views,
            stream_tolerance=0,
        )
        gap = case_module.expectation(problem, tap) / optimum - 1
        print(f"C={c:g} enumerable, {views} views: {100 * gap:.1f} % above")
    record = case_module.snp(
        model, train, solver="stream", stream_views=200
    ).convergence
    print(
        f"C={c:g} enumerable: converged {record['converged']} at "
        f"{record['views']} views, held-out objective {record['objective']:.4f}"
    )


def synthetic(c, folder):
    import json

    from keras_snp.cli.train import train_main

    args = (
        "--dataset synthetic --variant cct_2_3x2 --image-size 16 "
        "--examples-per-class 12 --num-classes 4 --batch-size 16 --epochs 2 "
        f"--output-dir {folder} --run-name r --stages train export snp "
        "--readout-solver stream --quiet"
    ).split()
    if os.path.exists(os.path.join(folder, "r")):
        args += ["--resume", "--redo", "snp"]
    train_main(args)
    with open(os.path.join(folder, "r", "snp", "summary.json")) as f:
        taps = json.load(f)["taps"]
    for name, tap in taps.items():
        record = tap["convergence"]
        print(
            f"C={c:g} synthetic {name}: converged {record['converged']} at "
            f"{record['views']} views, objective {record['objective']:.4f}"
        )


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        for c in map(float, sys.argv[1:] or ["0", "5"]):
            damp(c)
            enumerable(c)
            synthetic(c, folder)
