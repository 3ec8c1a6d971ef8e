"""Sensitivity runs: claims 1, 2 and 4 measured again with one setting
changed, on a real synthetic run folder."""

import importlib.util
import os

import numpy as np
import pytest

from keras_snp.reproduce import sensitivity
from keras_snp.run import pipeline
from keras_snp.run.config import RunConfig
from keras_snp.snp import clusters
from keras_snp.snp.result import SNPResult
from keras_snp.utils import UsageError
from keras_snp.utils import read_json
from tests.helpers import tiny_run_config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
_spec = importlib.util.spec_from_file_location(
    "sensitivity_script", os.path.join(ROOT, "scripts", "sensitivity.py")
)
sensitivity_script = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(sensitivity_script)


def test_a_change_is_typed_as_the_runs_setting_and_checked():
    config = RunConfig(theta=0.3, readout_views=2)
    assert sensitivity.parse_change("theta=0.2", config) == {"theta": 0.2}
    assert sensitivity.parse_change("readout-views=8", config) == {
        "readout_views": 8
    }
    for bad, says in (
        ("epochs=3", "cannot be varied"),
        ("theta", "e.g. --vary theta=0.2"),
        ("readout_views=many", "takes a int"),
        ("theta=0.3", "already has theta=0.3"),
    ):
        with pytest.raises(UsageError, match=says):
            sensitivity.parse_change(bad, config)


@pytest.mark.slow
def test_sensitivity_measures_again_and_tabulates_beside_the_run(
    tmp_path, capsys
):
    config = tiny_run_config(
        tmp_path,
        null_samples=10,
        readout="pooled",
        readout_solver="lbfgs",  # so that readout_views=1 is a change
        stages=("train", "export", "snp", "heads"),
    )
    run_dir = pipeline.run(config).path
    out = str(tmp_path / "sens")
    argv = [run_dir, "--vary", "theta=0.5", "--vary", "readout_views=1"]
    argv += ["--out", out, "--quiet", "--bootstrap", "100"]
    assert sensitivity_script.main(argv) == 0
    printed = capsys.readouterr().out
    assert "| 1. readout accuracy rises with depth | `readout_views=1` |" in (
        printed
    )

    # theta alone: the run's fields, clustered at the new theta
    base = SNPResult.load(os.path.join(run_dir, "snp"))
    at_half = read_json(os.path.join(out, "theta=0.5", "snp", "summary.json"))
    assert at_half["theta"] == 0.5
    for name, tap in base.taps.items():
        want = clusters.tap_stats(tap.V, 0.5)
        got = at_half["taps"][name]
        assert got["mean_diag"] == pytest.approx(want["mean_diag"])
        assert got["readout_accuracy"] == tap.readout_accuracy
    heads = read_json(os.path.join(out, "theta=0.5", "heads", "heads.json"))
    assert heads["theta"] == 0.5

    # a readout setting: the readouts solved again, with it
    views = os.path.join(out, "readout_views=1")
    state = read_json(os.path.join(views, "run.json"))
    assert state["config"]["readout_views"] == 1
    assert state["sensitivity"]["change"] == {"readout_views": 1}
    again = SNPResult.load(os.path.join(views, "snp"))
    assert not all(
        np.allclose(again.taps[n].V, base.taps[n].V) for n in base.taps
    )

    table = read_json(os.path.join(out, "sensitivity.json"))
    # theta alone moves a node's diagonal set only through the threshold:
    # the fraction kept is the share of nodes whose set is the same at 0.5
    want = {}
    for name, tap in base.taps.items():
        same = np.all(
            clusters.diagonal_mask(tap.V, 0.3)
            == clusters.diagonal_mask(tap.V, 0.5),
            axis=-1,
        )
        want.setdefault(tap.kind, []).append(same)
    got = table["same_diagonal_sets"]["theta=0.5"]
    assert set(got) == set(want)
    for kind, same in want.items():
        assert got[kind] == pytest.approx(np.concatenate(same).mean())
    assert set(table["changes"]) == {"theta=0.5", "readout_views=1"}
    for name, claims in table["changes"].items():
        assert set(claims) == set(table["run"])
        assert table["moved"][name] == [
            c
            for c in claims
            if claims[c]["verdict"] != table["run"][c]["verdict"]
        ]

    # published: the table computed from its evidence, and rebuilt from it
    page = str(tmp_path / "pub" / "r-sensitivity.md")
    assert sensitivity_script.main(argv + ["--publish", page]) == 0
    with open(page) as f:
        published = f.read()
    evidence_dir = page[: -len(".md")]
    assert not os.path.exists(os.path.join(evidence_dir, "run", "pruned"))
    assert os.path.isfile(
        os.path.join(evidence_dir, "theta=0.5", "snp", "nodes.npz")
    )
    assert not os.path.exists(
        os.path.join(evidence_dir, "theta=0.5", "snp", "snp.npz")
    )
    capsys.readouterr()
    assert sensitivity_script.main(["--rebuild", evidence_dir]) == 0
    assert capsys.readouterr().out.strip() == published.strip()
    assert sensitivity.render(table) == published

    # complete changes are kept: a second call measures nothing
    before = os.path.getmtime(os.path.join(views, "run.json"))
    assert sensitivity_script.main(argv) == 0
    assert os.path.getmtime(os.path.join(views, "run.json")) == before
    assert not os.path.exists(views + ".partial")


def test_a_folder_without_run_json_is_refused_in_one_line(tmp_path, capsys):
    assert sensitivity_script.main([str(tmp_path), "--vary", "theta=0.2"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "run.json" in err
    assert len(err.splitlines()) == 1
