"""Atomic writes: a failing write keeps the old file and leaves no temp."""

import json
import os

import keras
import numpy as np
import pytest

from keras_snp.run import export as export_lib
from keras_snp.run import fit as training
from keras_snp.run import pipeline
from keras_snp.utils import write_json
from tests.helpers import tiny_cct
from tests.helpers import tiny_run_config


def _listing(directory):
    return sorted(os.listdir(directory))


def test_failing_json_write_keeps_old_file(tmp_path):
    path = tmp_path / "run.json"
    write_json(path, {"epoch": 1})
    with pytest.raises(TypeError):
        write_json(path, {"epoch": object()})
    assert json.loads(path.read_text()) == {"epoch": 1}
    assert _listing(tmp_path) == ["run.json"]


def test_failing_model_save_keeps_old_file(tmp_path, monkeypatch):
    model = tiny_cct()
    path = tmp_path / "model.keras"
    export_lib.save_keras(model, path)
    good = path.read_bytes()

    def half_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save", half_save)
    with pytest.raises(OSError, match="disk full"):
        export_lib.save_keras(model, path)
    assert path.read_bytes() == good
    assert _listing(tmp_path) == ["model.keras"]
    monkeypatch.undo()
    export_lib.load_model(path)  # still a whole model


class _Images(keras.utils.PyDataset):
    """Two batches per epoch; a NaN image once `poison` is set."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.x = rng.uniform(0, 255, (16, 16, 16, 3)).astype("float32")
        self.y = keras.utils.to_categorical(np.arange(16) % 5, 5)
        self.poison = False

    def __len__(self):
        return 2

    def __getitem__(self, i):
        x = self.x[i * 8 : (i + 1) * 8].copy()
        if self.poison:
            x[0, 0, 0, 0] = np.nan
        return x, self.y[i * 8 : (i + 1) * 8]


def _fit(model, backup_dir, data, epochs, extra=()):
    model.compile(optimizer="adam", loss="categorical_crossentropy")
    backup = training.AtomicBackupAndRestore(backup_dir)
    model.fit(data, epochs=epochs, verbose=0, callbacks=[*extra, backup])
    return backup


def test_checkpoint_write_failure_keeps_last_checkpoint(tmp_path, monkeypatch):
    backup_dir = tmp_path / "backup"
    model = tiny_cct()
    _fit(model, backup_dir, _Images(), epochs=1)
    assert _listing(backup_dir) == ["checkpoint.json", "epoch_1.weights.h5"]
    saved = [v.numpy().copy() for v in model.weights]

    def half_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"\x89HDF half")
        raise OSError("disk full")

    monkeypatch.setattr(keras.Model, "save_weights", half_save)
    with pytest.raises(OSError, match="disk full"):
        _fit(tiny_cct(), backup_dir, _Images(), epochs=2)
    monkeypatch.undo()
    assert _listing(backup_dir) == ["checkpoint.json", "epoch_1.weights.h5"]
    assert json.loads((backup_dir / "checkpoint.json").read_text()) == {
        "epoch": 1,
        "weights": "epoch_1.weights.h5",
    }
    # The kept checkpoint restores the weights of epoch 1 exactly.
    fresh = tiny_cct()
    fresh.compile(optimizer="adam", loss="categorical_crossentropy")
    restore = training.AtomicBackupAndRestore(backup_dir)
    restore.set_model(fresh)
    restore.on_train_begin()
    assert restore.saved_epoch == 1 and restore.resume_epoch() == 1
    for a, b in zip(saved, fresh.weights):
        np.testing.assert_array_equal(a, b.numpy())


def test_nan_epoch_is_not_checkpointed(tmp_path):
    backup_dir = tmp_path / "backup"
    stop = training.StopOnNonFiniteLoss()
    data = _Images()
    poison = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: setattr(data, "poison", True)
    )
    backup = _fit(tiny_cct(), backup_dir, data, epochs=3, extra=[stop, poison])
    assert stop.bad_epoch == 2
    assert backup.saved_epoch == 1
    assert _listing(backup_dir) == ["checkpoint.json", "epoch_1.weights.h5"]
    restored = tiny_cct()
    restored.load_weights(backup_dir / "epoch_1.weights.h5")
    assert all(np.isfinite(v.numpy()).all() for v in restored.weights)


def _renames(monkeypatch):
    """Records every rename target (atomic writes end with one)."""
    targets = []
    for name in ("replace", "rename"):
        original = getattr(os, name)

        def record(src, dst, *args, _original=original, **kwargs):
            targets.append(os.path.abspath(os.fspath(dst)))
            return _original(src, dst, *args, **kwargs)

        monkeypatch.setattr(os, name, record)
    return targets


@pytest.mark.slow
def test_every_run_file_is_written_by_rename(tmp_path, monkeypatch):
    """Audit: each file of a whole run (all stages) lies under a path that
    was renamed into place; TensorBoard event files excepted."""
    targets = _renames(monkeypatch)
    config = tiny_run_config(
        tmp_path,
        batch_size=16,
        run_name="audit",
        snp_epochs=1,
        null_samples=3,
        ablation=False,
        fine_tune_epochs=0,  # no file of its own; fit's files are audited
    )
    folder = pipeline.run(config)
    monkeypatch.undo()
    assert set(folder.state["stages"]) == set(config.stages)
    written = []
    for root, _, files in os.walk(folder.path):
        for name in files:
            path = os.path.abspath(os.path.join(root, name))
            if "tfevents" in name:
                continue
            written.append(path)
            assert any(
                path == t or path.startswith(t + os.sep) for t in targets
            ), f"{path} not written atomically"
            assert not name.startswith("."), path
    rel = {os.path.relpath(p, folder.path) for p in written}
    for expected in (
        "run.json",
        "model.keras",
        "snp/snp.npz",
        "heads/heads.json",
        "pruned/model.keras",
        "saved_model/saved_model.pb",
        "checkpoints/backup/checkpoint.json",
    ):
        assert expected in rel, expected
