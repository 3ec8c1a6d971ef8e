"""TensorBoard for people: single results as images and escaped tables,
no one-point scalar charts; the closing summary; progress lines."""

import io
import logging
import os

import numpy as np

from keras_snp.run import heads_board  # noqa: F401 (imports cleanly)
from keras_snp.run import progress
from keras_snp.run import pruning_board
from keras_snp.run import snp_board
from keras_snp.run import summary as summary_lib
from keras_snp.run import tensorboard
from keras_snp.snp.result import SNPResult
from keras_snp.snp.result import TapResult
from keras_snp.utils import write_json


def _events(log_dir):
    """`{tag: plugin name}` of every summary under `log_dir`."""
    import tensorflow as tf

    tags = {}
    for root, _, files in os.walk(log_dir):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(
                os.path.join(root, name)
            ):
                for value in event.summary.value:
                    tags[value.tag] = value.metadata.plugin_data.plugin_name
    return tags


def _text(log_dir, tag):
    import tensorflow as tf

    for root, _, files in os.walk(log_dir):
        for name in files:
            for event in tf.compat.v1.train.summary_iterator(
                os.path.join(root, name)
            ):
                for value in event.summary.value:
                    if value.tag == tag:
                        return tf.make_ndarray(value.tensor).item().decode()
    return None


PRUNING = {
    "scope": "all",
    "accuracy": {
        "unpruned": 0.6,
        "andc_fine_tuned": 0.62,
        "magnitude_fine_tuned": 0.55,
    },
    "accuracy_table": [
        {
            "name": "unpruned",
            "accuracy": 0.6,
            "sparsity": 0.0,
            "description": "the trained model",
        },
        {
            "name": "andc_fine_tuned",
            "accuracy": 0.62,
            "sparsity": 0.3,
            "description": "ANDC masks, after fine-tuning",
        },
        {
            "name": "magnitude_fine_tuned",
            "accuracy": 0.55,
            "sparsity": 0.3,
            "description": "largest |w| per layer at the ANDC sparsity",
        },
    ],
    "params": {"before": 1000, "after": 700},
}


def test_markdown_cells_are_escaped():
    table = tensorboard.markdown_table(["a", "b"], [["x|y", "|w|"]])
    assert table.splitlines()[2] == r"| x\|y | \|w\| |"


def test_log_pruning_writes_bars_and_a_table_not_scalars(tmp_path):
    pruning_board.log_pruning(PRUNING, str(tmp_path))
    tensorboard.close_all()
    tags = _events(str(tmp_path))
    assert tags == {"accuracy_table": "text", "pruning/accuracy": "images"}
    text = _text(str(tmp_path), "accuracy_table")
    row = [line for line in text.splitlines() if "magnitude" in line][0]
    assert r"largest \|w\| per layer" in row
    assert row.count(" | ") == 3  # four cells: the |w| did not split it
    assert "1,000 before, 700 after" in text


def _result(encoders=2, k=4, seed=0):
    rng = np.random.default_rng(seed)
    taps = {}
    for e in range(1, encoders + 1):
        for kind, name in (("mha", "mha"), ("ff", "ff_hidden"), ("res", "out")):
            V = rng.normal(size=(6, k, k)).astype("float32")
            V[:, range(k), range(k)] += 3
            taps[f"encoder_{e}_{name}"] = TapResult(
                name=f"encoder_{e}_{name}",
                kind=kind,
                encoder=e,
                V=V,
                head=np.zeros(6, int),
                tokens=4,
                readout_accuracy=0.5 + e / 10,
            )
    return SNPResult(taps, theta=0.3, label_names=["a", "b", "c", "d"])


def test_log_snp_single_result_has_no_scalars(tmp_path):
    snp_board.log_snp(_result(), str(tmp_path), heatmap_nodes=2)
    tensorboard.close_all()
    tags = _events(str(tmp_path))
    assert "scalars" not in set(tags.values()), tags
    assert tags["summary"] == "text" and tags["trend"] == "text"
    assert tags["snp/depth_profile"] == "images"
    assert tags["snp/encoder_1_mha/nodes"] == "images"
    # Pictures sort after Keras's training curves (epoch_*) in Time Series.
    assert all(t > "epoch_" for t, kind in tags.items() if kind != "text")


def test_snp_logger_keeps_curves_over_epochs(tmp_path):
    snp_board.snp_logger(str(tmp_path), heatmap_nodes=0)(_result(), 3)
    tensorboard.close_all()
    tags = _events(str(tmp_path))
    assert tags["encoder_2_ff_hidden/readout_accuracy"] == "scalars"
    assert tags["trend/res/readout_accuracy_slope"] == "scalars"


def test_closing_summary_names_numbers_and_files(tmp_path):
    run = tmp_path / "r1"
    for sub in ("snp", "heads", "pruned", "logs"):
        (run / sub).mkdir(parents=True)
    (run / "model.keras").write_text("x")
    (run / "heads" / "heads.md").write_text("x")
    write_json(
        run / "run.json",
        {
            "run_name": "r1",
            "stages": {
                "train": {"test_accuracy": 0.61},
                "heads": {
                    "encoders": {
                        "1": {"symmetry_breaking": True},
                        "2": {"symmetry_breaking": False},
                    }
                },
            },
        },
    )
    write_json(
        run / "snp" / "summary.json", {"taps": _result().summary()["taps"]}
    )
    write_json(run / "pruned" / "pruning.json", PRUNING)
    text = summary_lib.summary_text(str(run))
    assert "test accuracy 0.6100" in text
    assert "readout accuracy (res)" in text and "0.600" in text
    assert "labels per node (mha)" in text
    assert "encoder 1: yes, encoder 2: no" in text
    assert "andc_fine_tuned" in text and "0.6200" in text
    assert "1,000 -> 700 (30% fewer)" in text
    for path in ("model.keras", "heads/heads.md", "run.json"):
        assert os.path.join(str(run), path) in text
    assert "pruned/model.keras" not in text  # absent files are not listed
    assert f"tensorboard --logdir {run / 'logs'}" in text


def test_progress_lines(caplog):
    with caplog.at_level(logging.INFO, logger="keras_snp.progress"):
        steps = progress.Steps("prune", total=2)
        steps.start("fine-tuning andc")
        steps.done("accuracy %.2f", 0.5)
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0] == "[prune] fine-tuning andc 1/2 ..."
    assert lines[1].startswith("[prune] fine-tuning andc 1/2 done in ")
    assert lines[1].endswith(": accuracy 0.50")


def test_a_log_line_never_continues_a_progress_bar():
    from keras_snp.cli import common

    stream = common._TrackedStream(io.StringIO())
    handler = common._LineHandler(stream, stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    stream.write("\r1/1 - loss: 9.6")
    handler.emit(logging.makeLogRecord({"msg": "[snp] next", "levelno": 20}))
    assert stream.getvalue() == "\r1/1 - loss: 9.6\n[snp] next\n"


def _with_convergence(result, failed=()):
    for name, tap in result.taps.items():
        tap.convergence = {
            "solver": "lbfgs",
            "converged": name not in failed,
            "objective": 1.25,
            "loss": 1.2,
            "grad_norm": 1e-4,
            "relative_grad_norm": 5e-3 if name in failed else 2e-4,
            "passes": 500 if name in failed else 80,
            "rows": 100,
            "seconds": 3.0,
        }
    return result


def test_convergence_on_tensorboard(tmp_path):
    result = _with_convergence(_result(), failed={"encoder_1_mha"})
    snp_board.log_snp(result, str(tmp_path), heatmap_nodes=0)
    tensorboard.close_all()
    tags = _events(str(tmp_path))
    assert tags["convergence"] == "text"
    assert tags["convergence/encoder_1_mha/converged"] == "scalars"
    text = _text(str(tmp_path), "convergence")
    assert "**NO**" in text and "5.0e-03" in text and "500" in text


def test_closing_summary_names_taps_not_converged(tmp_path):
    run = tmp_path / "r1"
    (run / "snp").mkdir(parents=True)
    write_json(run / "run.json", {"run_name": "r1", "stages": {}})
    result = _with_convergence(_result(), failed={"encoder_2_mha"})
    write_json(run / "snp" / "summary.json", result.summary())
    text = summary_lib.summary_text(str(run))
    taps = len(result.taps)
    assert (
        f"SNP readouts: {taps - 1} of {taps} converged (80-500 passes" in text
    )
    assert (
        "NOT converged (statistics are not the optimum's): encoder_2_mha"
        in (text)
    )
    write_json(
        run / "snp" / "summary.json", _with_convergence(_result()).summary()
    )
    assert "NOT converged" not in summary_lib.summary_text(str(run))


def test_closing_summary_of_fresh_view_readouts_counts_views(tmp_path):
    run = tmp_path / "r1"
    (run / "snp").mkdir(parents=True)
    write_json(run / "run.json", {"run_name": "r1", "stages": {}})
    result = _with_convergence(_result())
    for i, tap in enumerate(result.taps.values()):
        tap.convergence.update(
            solver="stream", views=20 + i, held_out_change=1e-4 * (i + 1)
        )
    write_json(run / "snp" / "summary.json", result.summary())
    taps = len(result.taps)
    text = summary_lib.summary_text(str(run))
    assert (
        f"SNP readouts: {taps} of {taps} converged (20-{19 + taps} fresh "
        f"views, largest held-out change {1e-4 * taps:.1e})" in text
    )
