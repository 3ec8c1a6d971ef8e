import json
import os

import pytest

from tests.run.scripts import QUICK
from tests.run.scripts import event_tags
from tests.run.scripts import run_script


@pytest.mark.slow
def test_train_and_export_with_two_cpu_replicas(tmp_path):
    # 13 examples per class: the validation batch (5) splits 3 / 2 over
    # the replicas; every later stage runs on the trained model too.
    flags = [f if f != "12" else "13" for f in QUICK]
    done = run_script(
        "train.py",
        *flags,
        "--epochs",
        "2",
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "r",
        "--cpu-replicas",
        "2",
        "--recipe",
        "official",
        "--null-samples",
        "5",
        "--readout-solver",
        "lbfgs",  # the default stream solver: tests/run/full_pipeline_test.py
        # The stage's rows without their fine-tune: fine-tuning masked
        # models under MirroredStrategy is tests/pruning/wrapper_test.py's.
        "--fine-tune-epochs",
        "0",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "r"
    state = json.loads((run / "run.json").read_text())
    assert state["placement"]["replicas"] == 2
    assert state["placement"]["kind"] == "mirrored"
    assert [h["epoch"] for h in state["history"]] == [1, 2]
    # The recorded accuracy is the saved model's on the same test images.
    import keras
    import numpy as np

    from keras_snp import data

    model = keras.models.load_model(run / "model.keras")
    test = data.load(
        "synthetic", 16, 16, recipe="none", num_classes=4, examples_per_class=13
    ).test
    hits = [
        np.argmax(model.predict_on_batch(x), -1) == np.argmax(y, -1)
        for x, y in data.as_numpy(test)
    ]
    assert state["stages"]["train"]["test_accuracy"] == pytest.approx(
        np.concatenate(hits).mean(), abs=1e-6
    )
    assert state["dataset"]["num_classes"] == 4
    assert state["stages"]["prune"]["status"] == "done"
    for path in (
        "model.keras",
        "saved_model/saved_model.pb",
        "checkpoints",
        "pruned/model.keras",
    ):
        assert (run / path).exists(), path
    assert "epoch_loss" in event_tags(str(run / "logs" / "train"))
    assert "epoch_learning_rate" in event_tags(str(run / "logs" / "train"))
    assert "epoch_loss" in event_tags(str(run / "logs" / "validation"))


@pytest.mark.parametrize(
    "args,message",
    [
        (["--dataset", "imagenet9"], "Unknown dataset"),
        (["--dataset", "/no/such/folder"], "does not exist"),
        (["--variant", "cct_99"], "Unknown CCT variant"),
        (["--image-size", "3", "--variant", "cct_7_7x2"], "--image-size"),
        (["--theta", "1.5"], "theta"),
        (["--cpu-replicas", "2", "--batch-size", "1"], "replicas"),
    ],
)
def test_bad_input_one_line_exit_2_no_folder(tmp_path, args, message):
    base = [
        "--dataset",
        "synthetic",
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "bad",
        "--epochs",
        "1",
        "--quiet",
    ]
    done = run_script("train.py", *base, *args)
    assert done.returncode == 2, done.stderr[-2000:]
    lines = [
        line
        for line in done.stderr.strip().splitlines()
        if line.startswith("error:")
    ]
    assert len(lines) == 1 and message in lines[0], done.stderr[-2000:]
    assert not os.path.exists(tmp_path / "bad")


def test_existing_run_name_is_refused(tmp_path):
    (tmp_path / "taken").mkdir()
    done = run_script(
        "train.py",
        *QUICK,
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "taken",
        "--epochs",
        "1",
    )
    assert done.returncode == 2
    assert "--resume" in done.stderr


@pytest.mark.slow
def test_snp_during_training(tmp_path):
    done = run_script(
        "train.py",
        *QUICK,
        "--epochs",
        "2",
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "cb",
        "--stages",
        "train",
        "--snp-every",
        "1",
        "--readout-epochs",
        "1",
        "--taps",
        "encoder_2_mha",
        "encoder_2_ff_hidden",
    )
    assert done.returncode == 0, done.stderr[-3000:]
    tags = event_tags(str(tmp_path / "cb" / "logs" / "snp"))
    assert any("encoder_2_ff_hidden" in t for t in tags), sorted(tags)[:20]
    assert not any("encoder_1_" in t for t in tags)
