"""Same seed, one CPU device: identical weights. Odd image folders."""

import json
import os

import keras
import numpy as np
import pytest
from PIL import Image

from keras_snp.cli import guarded
from keras_snp.cli.train import train_main
from keras_snp.run import pipeline
from tests.helpers import tiny_run_config


def _train(tmp_path, name, seed):
    config = tiny_run_config(
        tmp_path, seed=seed, run_name=name, stages=("train",)
    )
    folder = pipeline.run(config)
    model = keras.models.load_model(os.path.join(folder.path, "model.keras"))
    return [np.asarray(w) for w in model.get_weights()]


@pytest.mark.slow
def test_same_seed_same_weights(tmp_path):
    first = _train(tmp_path, "a", seed=1)
    second = _train(tmp_path, "b", seed=1)
    other = _train(tmp_path, "c", seed=2)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other))


def _image(path, mode, value):
    size = (20, 20)
    color = {"L": value, "RGBA": (value, 0, 0, 128), "RGB": (value, 0, 0)}
    Image.new(mode, size, color[mode]).save(path)


def test_folder_with_odd_files_through_train(tmp_path, capsys):
    data = tmp_path / "data"
    for split in ("train", "test"):
        for label, value in (("cat", 30), ("dog", 200)):
            folder = data / split / label
            folder.mkdir(parents=True)
            _image(folder / "a.jpg", "RGB", value)
            _image(folder / "b.png", "L", value)  # grayscale
            _image(folder / "c.png", "RGBA", value)  # alpha
            _image(folder / "d.jpg", "RGB", value)
        (data / split / "cat" / "notes.txt").write_text("not an image")
    whole = (data / "train" / "dog" / "d.jpg").read_bytes()
    (data / "train" / "dog" / "d.jpg").write_bytes(whole[: len(whole) // 3])
    code = guarded(
        train_main,
        [
            "--dataset",
            str(data),
            "--variant",
            "cct_2_3x2",
            "--image-size",
            "16",
            "--epochs",
            "1",
            "--batch-size",
            "4",
            "--output-dir",
            str(tmp_path / "runs"),
            "--run-name",
            "f",
            "--stages",
            "train",
            "--quiet",
        ],
    )
    assert code == 0, capsys.readouterr().err[-2000:]
    state = json.loads((tmp_path / "runs" / "f" / "run.json").read_text())
    info = state["dataset"]
    assert info["num_classes"] == 2
    assert info["skipped_files"] == 2  # notes.txt in train and test
    assert info["corrupt_files"] == [os.path.join("train", "dog", "d.jpg")]
    assert (
        info["split_sizes"]["train"] + info["split_sizes"].get("validation", 0)
        == 7
    )  # 8 images, 1 truncated

    (data / "train" / "bird").mkdir()  # empty class folder
    code = guarded(
        train_main,
        [
            "--dataset",
            str(data),
            "--image-size",
            "16",
            "--epochs",
            "1",
            "--output-dir",
            str(tmp_path / "runs"),
            "--run-name",
            "g",
            "--quiet",
        ],
    )
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("error:")]
    assert code == 2 and len(lines) == 1 and "bird" in lines[0], err
    assert not (tmp_path / "runs" / "g").exists()
