"""The untrained control of claims 2 and 4: the `control` stage measures the
network at its initialisation, and the report judges it by the same rules."""

import os
import tempfile

import keras
import numpy as np
import pytest

from keras_snp.data import defaults_for
from keras_snp.heads import analyze_heads
from keras_snp.heads import write_heads_report
from keras_snp.models import build_cct
from keras_snp.reproduce import analysis
from keras_snp.reproduce import evidence
from keras_snp.reproduce import report
from keras_snp.run import pipeline
from keras_snp.snp.result import SNPResult
from keras_snp.utils import read_json
from tests.helpers import tiny_run_config
from tests.reproduce.report_test import _tap
from tests.reproduce.report_test import make_run


def make_control(run_dir, seed=1):
    """`control/` of `run_dir` with no depth trend: every encoder's fields
    are the same draw, so no slope can differ from 0."""
    taps = {}
    for layer in (1, 2, 3):
        rng = np.random.default_rng(seed)
        for kind, name in (("mha", "mha"), ("ff", "ff_hidden"), ("res", "out")):
            tap = f"encoder_{layer}_{name}"
            taps[tap] = _tap(tap, kind, layer, 1.0, rng)
    result = SNPResult(taps, theta=0.3, label_names=list("abcdef"))
    result.save(os.path.join(run_dir, "control", "snp"))
    heads = analyze_heads(result, null_samples=20, seed=0)
    write_heads_report(heads, os.path.join(run_dir, "control", "heads"))


def test_the_control_is_judged_by_the_same_rules_and_rebuilt():
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = make_run(os.path.join(tmp, "run"))
        without = analysis.analyze_run(run_dir, resamples=200)
        assert without["untrained_control"] is None
        text = report.render(without)
        assert "Untrained control: not measured" in text

        make_control(run_dir)
        a = analysis.analyze_run(run_dir, resamples=200)
        trained = a["claims"]["clusters_noise"]["noise_verdicts"]
        control = a["untrained_control"]["clusters_noise"]
        # the planted trend is found in the trained fields, and no trend
        # in the control's, where every depth has the same fields
        assert set(trained.values()) == {"reproduced"}
        assert "reproduced" not in control["noise_verdicts"].values()
        assert control["verdict"] != "reproduced"
        for trend in control["trends"].values():
            assert trend["mean_noise"]["slope"] == pytest.approx(0, abs=1e-9)
        assert a["untrained_control"]["heads"]["encoders"]

        text = report.render(a)
        assert "| claim | verdict | untrained network (control) |" in text
        assert f"| {control['verdict']} |" in text
        assert "untrained slope (CI)" in text
        assert "the untrained network's claim 4 is" in text

        out = evidence.write_evidence(run_dir, os.path.join(tmp, "ev"))
        assert os.path.isfile(os.path.join(out, "control", "snp", "nodes.npz"))
        assert not os.path.exists(
            os.path.join(out, "control", "snp", "snp.npz")
        )
        rebuilt = analysis.analyze_run(out, resamples=200)
        assert report.render(rebuilt) == report.render(
            {**a, "run_dir": rebuilt["run_dir"]}
        )


@pytest.mark.slow
def test_control_stage_measures_the_network_at_its_initialisation(
    tmp_path, monkeypatch
):
    settings = dict(null_samples=10, seed=3)
    folder = pipeline.run(
        tiny_run_config(tmp_path, stages=("train", "export"), **settings)
    )
    trained = keras.models.load_model(os.path.join(folder.path, "model.keras"))
    measured = []
    real_measure = pipeline.measure_snp

    def measure_snp(model, *args, **kwargs):
        measured.append([np.asarray(w) for w in model.get_weights()])
        return real_measure(model, *args, **kwargs)

    monkeypatch.setattr(pipeline, "measure_snp", measure_snp)
    folder = pipeline.run(
        tiny_run_config(
            tmp_path, stages=("train", "export", "control"), **settings
        ),
        resume=True,
    )
    defaults = defaults_for("synthetic")
    keras.utils.set_random_seed(3)
    initial = build_cct(
        "cct_2_3x2",
        num_classes=3,
        image_size=16,
        mean=defaults.mean,
        std=defaults.std,
    ).get_weights()
    (weights,) = measured
    assert len(weights) == len(initial)
    for got, want in zip(weights, initial):
        np.testing.assert_array_equal(got, want)
    assert any(
        not np.array_equal(got, want)
        for got, want in zip(weights, trained.get_weights())
    )
    for rel in (
        "control/snp/summary.json",
        "control/snp/snp.npz",
        "control/heads/heads.json",
    ):
        assert os.path.isfile(os.path.join(folder.path, rel)), rel
    state = read_json(os.path.join(folder.path, "run.json"))
    assert state["stages"]["control"]["status"] == "done"
    assert state["stages"]["control"]["wall_seconds"] > 0
    assert set(state["stages"]["control"]["files"]) == {
        "control/snp/summary.json",
        "control/snp/snp.npz",
        "control/heads/heads.json",
    }
    assert "snp" not in state["stages"]  # the control is its own stage
