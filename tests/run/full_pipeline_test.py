"""`scripts/train.py` through every stage, then analyze.py and prune.py."""

import json
import os

import keras
import numpy as np
import pytest

import keras_snp  # noqa: F401  (registers the layers)
from keras_snp.run import export
from tests.run.scripts import QUICK
from tests.run.scripts import event_tags
from tests.run.scripts import run_script

# End to end through subprocesses: CI runs them at the highest Keras only.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    done = run_script(
        "train.py",
        *QUICK,
        "--epochs",
        "2",
        "--output-dir",
        str(out),
        "--run-name",
        "full",
        "--null-samples",
        "10",
        "--snp-epochs",
        "1",
        "--fine-tune-epochs",
        "0",  # the fine-tune through the CLI: test_analyze_and_prune_scripts
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out / "full"


def test_run_folder_layout(run_dir):
    for path in (
        "run.json",
        "model.keras",
        "saved_model/saved_model.pb",
        "snp/summary.json",
        "snp/snp.npz",
        "heads/heads.json",
        "heads/heads.md",
        "heads/encoder_1.png",
        "heads/encoder_2.png",
        "pruned/model.keras",
        "pruned/saved_model/saved_model.pb",
        "pruned/pruning.json",
        "pages/index.html",
        "pages/node.html",
        "pages/data/site.js",
        "pages/pruned/index.html",
        "pages/pruned/data/site.js",
    ):
        assert (run_dir / path).exists(), path
    state = json.loads((run_dir / "run.json").read_text())
    assert set(state["stages"]) == {
        "train",
        "export",
        "snp",
        "heads",
        "prune",
        "pages",
    }
    assert state["stages"]["pages"]["ablated_nodes"] > 0
    assert state["stages"]["pages"]["pruned_nodes"] > 0
    assert all(s["status"] == "done" for s in state["stages"].values())
    leftovers = [n for n in os.listdir(run_dir) if n.startswith(".")]
    assert leftovers == []


def test_snp_summary_and_arrays(run_dir):
    summary = json.loads((run_dir / "snp" / "summary.json").read_text())
    assert summary["theta"] == 0.3 and summary["readout"] == "flatten"
    expected = {
        f"encoder_{l}_{k}" for l in (1, 2) for k in ("mha", "ff_hidden", "out")
    }
    assert set(summary["taps"]) == expected
    for name, tap in summary["taps"].items():  # issue: converged SNP
        convergence = tap["convergence"]
        assert convergence["converged"] is True, name
        assert convergence["loss"] < np.log(4), name
    arrays = np.load(run_dir / "snp" / "snp.npz")
    V = arrays["encoder_1_ff_hidden.V"]
    assert V.shape == (summary["taps"]["encoder_1_ff_hidden"]["nodes"], 4, 4)
    assert set(np.unique(arrays["encoder_2_mha.head"])) == {0, 1}
    assert (arrays["encoder_1_out.head"] == -1).all()


def test_tensorboard_stages(run_dir):
    logs = run_dir / "logs"
    assert "epoch_loss" in event_tags(str(logs / "train"))
    for stage in ("snp", "heads", "pruning"):
        assert event_tags(str(logs / stage)), stage
    pages = event_tags(str(logs / "pages"))
    assert "pages" in pages
    assert any(t.startswith("pages/encoder_") for t in pages), pages


def test_pruned_model_loads_safely_and_matches_saved_model(run_dir):
    model = keras.models.load_model(
        str(run_dir / "pruned" / "model.keras"), safe_mode=True
    )
    images = np.random.default_rng(0).uniform(0, 255, (3, 16, 16, 3))
    diff = export.max_output_difference(
        model, str(run_dir / "pruned" / "saved_model"), images.astype("float32")
    )
    assert diff < 1e-5
    table = json.loads((run_dir / "pruned" / "pruning.json").read_text())
    assert set(table["accuracy"]) >= {
        "unpruned",
        "andc_masked",
        "andc_fine_tuned",
        "random_fine_tuned",
        "magnitude_fine_tuned",
    }


def test_analyze_and_prune_scripts(run_dir, tmp_path):
    out = tmp_path / "analysis"
    data_flags = [
        "--dataset",
        "synthetic",
        "--examples-per-class",
        "12",
        "--num-classes",
        "4",
        "--quiet",
    ]
    done = run_script(
        "analyze.py",
        str(run_dir / "model.keras"),
        *data_flags,
        "--out",
        str(out),
        "--null-samples",
        "5",
        "--readout-solver",
        "lbfgs",  # the default stream ran in the fixture's train.py
        "--no-ablation",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert (out / "snp" / "summary.json").exists()
    assert (out / "heads" / "heads.json").exists()
    wrong = [a if a != "4" else "6" for a in data_flags]
    done = run_script("analyze.py", str(run_dir / "model.keras"), *wrong)
    assert done.returncode == 2 and "classes" in done.stderr

    def prune(*flags):
        flags = ("--scope", "readout", *flags)
        done = run_script("prune.py", str(run_dir), *flags)
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads((run_dir / "pruned" / "pruning.json").read_text())

    table = prune("--fine-tune-epochs", "1")
    assert table["scope"] == "readout"
    assert table["fine_tune"]["record"]["steps"] > 0
    sweep_flags = ("--sweep", "--thetas", "0.3,0.5", "--sweep-scopes")
    table = prune("--fine-tune-epochs", "0", *sweep_flags, "readout")
    assert table["sweep"]["thetas"] == [0.3, 0.5]
    assert table["fine_tune"]["epochs"] == 0
    points = {(r["scope"], r["theta"]) for r in table["sweep"]["rows"]}
    assert points == {("readout", 0.3), ("readout", 0.5)}
    assert (run_dir / "pruned" / "sweep.png").exists()
    # per-image hits of every point, their means the rows' accuracies
    assert table["sweep"]["predictions"] == "sweep_predictions.npz"
    with np.load(run_dir / "pruned" / "sweep_predictions.npz") as hits:
        for r in table["sweep"]["rows"]:
            point = hits[f"{r['scope']}|{r['theta']}|{r['method']}"]
            assert point.dtype == bool
            assert float(point.mean()) == pytest.approx(r["accuracy"])
    done = run_script("prune.py", str(run_dir), "--thetas", "0.3,2")
    assert done.returncode == 2 and "between 0 and 1" in done.stderr


def test_fine_tune_study_cli(run_dir):
    study_flags = ("--fine-tune-study", "--study-epochs", "1")
    flags = (*study_flags, "--study-seeds", "3", "--fine-tune-steps", "1")
    done = run_script("prune.py", str(run_dir), *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    stage = json.loads((run_dir / "pruned" / "pruning.json").read_text())
    study = json.loads((run_dir / "pruned" / "fine_tunes.json").read_text())
    assert study["scope"] == stage["scope"]
    assert study["fine_tune"]["recipe"] == stage["fine_tune"]["recipe"]
    rows = ["unpruned", "andc", "magnitude"]
    if "readout" in stage["scope"] or stage["scope"] == "all":
        rows.append("andc_lab_classifier")
    keys = {f"{row}|1|3" for row in rows}
    assert set(study["points"]) == keys
    with np.load(run_dir / "pruned" / "fine_tune_predictions.npz") as hits:
        assert set(hits.files) == keys
        for key, point in study["points"].items():
            assert float(hits[key].mean()) == pytest.approx(point["accuracy"])
    tags = event_tags(run_dir / "logs" / "pruning" / "fine_tune_study")
    assert {"fine_tune_study/andc", "fine_tune_study"} <= tags
    # a second call runs nothing again
    done = run_script("prune.py", str(run_dir), *flags)
    assert done.returncode == 0, done.stderr[-3000:]
    again = json.loads((run_dir / "pruned" / "fine_tunes.json").read_text())
    assert again["points"] == study["points"]
    done = run_script("prune.py", str(run_dir), *study_flags[:2], "1,x")
    assert done.returncode == 2 and "--study-epochs" in done.stderr


def test_files_recompute_from_snp_npz(run_dir):
    """summary.json and every head's label set follow from snp.npz alone."""
    from keras_snp.snp import clusters

    summary = json.loads((run_dir / "snp" / "summary.json").read_text())
    arrays = np.load(run_dir / "snp" / "snp.npz")
    for tap, stats in summary["taps"].items():
        recomputed = clusters.tap_stats(arrays[f"{tap}.V"], summary["theta"])
        for key, value in recomputed.items():
            assert stats[key] == pytest.approx(value, nan_ok=True), (tap, key)
    report = json.loads((run_dir / "heads" / "heads.json").read_text())
    for encoder in report["encoders"]:
        V, head = (
            arrays[f"{encoder['tap']}.V"],
            arrays[f"{encoder['tap']}.head"],
        )
        for entry in encoder["heads"]:
            V_h = V[head == entry["head"]].sum(0)
            peak = V_h.max()
            expected = [
                c
                for c in range(V.shape[1])
                if peak > 0 and V_h[c, c] / peak > report["theta"]
            ]
            assert entry["labels"] == expected


def test_ship_models_copies_a_finished_run(run_dir, tmp_path):
    into = tmp_path / "shipped"
    done = run_script(
        "ship_models.py", str(run_dir), "tiny", "--into", str(into)
    )
    assert done.returncode == 0, done.stderr[-2000:]
    folder = into / "tiny"
    assert done.stdout.strip() == str(folder)
    assert "warning" not in done.stderr  # tmp_path is no git checkout
    with open(run_dir / "run.json", encoding="utf-8") as f:
        test_accuracy = json.load(f)["stages"]["train"]["test_accuracy"]
    about = (folder / "ABOUT.md").read_text(encoding="utf-8")
    assert f"test accuracy: {test_accuracy:.4f}" in about
    for name in ("heads.json", "heads.md", "snp_summary.json", "pruning.json"):
        assert (folder / name).read_bytes() == (
            run_dir
            / {
                "snp_summary.json": "snp/summary.json",
                "pruning.json": "pruned/pruning.json",
            }.get(name, f"heads/{name}")
        ).read_bytes()
    pruned = export.load_model(str(folder / "pruned" / "model.keras"))
    assert (
        pruned.output_shape[-1]
        == keras.models.load_model(folder / "model.keras").output_shape[-1]
    )

    refused = run_script(
        "ship_models.py", str(tmp_path), "x", "--into", str(into)
    )
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: ") and "--resume" in refused.stderr
    assert not (into / "x").exists()
