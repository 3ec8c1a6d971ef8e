"""The fault drill, fast part: staged stages, corrupt files, free space,
unwritable folders and models that did not learn, each in one line."""

import collections
import errno
import json
import os
import types

import numpy as np
import pytest

from keras_snp.cli.common import check_writable
from keras_snp.cli.common import guarded
from keras_snp.run import learned
from keras_snp.run import pipeline
from keras_snp.run.config import RunConfig
from keras_snp.run.folder import STAGING
from keras_snp.run.folder import RunFolder
from keras_snp.run.folder import recover_staging
from keras_snp.run.folder import staged_outputs
from keras_snp.run.folder import unlock_run
from keras_snp.snp.cache import FeatureCache
from keras_snp.utils import CorruptFile
from keras_snp.utils import UsageError
from keras_snp.utils import check_free_space
from keras_snp.utils import read_json


def _folder(tmp_path):
    folder = RunFolder.create(str(tmp_path), "r", RunConfig(run_name="r"))
    unlock_run(folder.path)
    return folder


def _context(folder):
    return types.SimpleNamespace(folder=folder, output_root=None)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(text)


def test_an_interrupted_stage_leaves_the_old_outputs_whole(tmp_path):
    folder = _folder(tmp_path)
    old = os.path.join(folder.path, "pruned", "pruning.json")
    _write(old, '{"old": true}')
    ctx = _context(folder)
    with pytest.raises(KeyboardInterrupt):
        with staged_outputs(ctx, "prune"):
            assert ctx.output_root.startswith(folder.path)
            _write(os.path.join(ctx.output_root, "pruned", "pruning.json"), "{")
            raise KeyboardInterrupt
    assert read_json(old) == {"old": True}
    assert not os.path.exists(os.path.join(folder.path, STAGING))
    assert ctx.output_root is None


def test_a_complete_stage_is_swapped_in_whole(tmp_path):
    folder = _folder(tmp_path)
    _write(os.path.join(folder.path, "pruned", "stale.txt"), "old")
    ctx = _context(folder)
    with staged_outputs(ctx, "prune"):
        _write(os.path.join(ctx.output_root, "pruned", "pruning.json"), "{}")
    names = os.listdir(os.path.join(folder.path, "pruned"))
    assert names == ["pruning.json"]  # nothing of the old stage is mixed in
    assert not os.path.exists(os.path.join(folder.path, STAGING))


def test_a_swap_killed_halfway_is_put_back_by_the_next_writer(tmp_path):
    folder = _folder(tmp_path)
    moved_aside = os.path.join(folder.path, STAGING, "prune.old", "pruned")
    _write(os.path.join(moved_aside, "pruning.json"), '{"old": true}')
    _write(os.path.join(folder.path, STAGING, "prune", "half"), "x")
    recover_staging(folder.path)
    assert read_json(os.path.join(folder.path, "pruned", "pruning.json"))
    assert not os.path.exists(os.path.join(folder.path, STAGING))


@pytest.mark.parametrize(
    "rel, fix",
    [
        ("run.json", "delete the run folder"),
        ("snp/summary.json", "--redo snp"),
        ("heads/heads.json", "--redo heads"),
        ("checkpoints/backup/checkpoint.json", "delete that checkpoints"),
    ],
)
@pytest.mark.parametrize("content", ["", '{"taps": ', "\x00\x01"])
def test_corrupt_json_names_the_file_and_the_fix(tmp_path, rel, fix, content):
    path = tmp_path / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(content)
    with pytest.raises(CorruptFile) as error:
        read_json(path)
    message = str(error.value)
    assert str(path) in message and fix in message
    assert "\n" not in message


def test_corrupt_snp_npz_names_the_file(tmp_path):
    from keras_snp.snp import SNPResult

    snp = tmp_path / "snp"
    snp.mkdir()
    (snp / "summary.json").write_text(json.dumps({"taps": {}, "theta": 0.3}))
    with open(snp / "snp.npz", "wb") as f:
        np.savez(f, a=np.arange(1000))
    data = (snp / "snp.npz").read_bytes()
    (snp / "snp.npz").write_bytes(data[:200])  # truncated
    with pytest.raises(CorruptFile, match=r"snp\.npz is corrupt.*--redo snp"):
        SNPResult.load(str(snp))


def test_checkpoint_pointer_without_its_fields_is_corrupt(tmp_path):
    from keras_snp.run.fit import AtomicBackupAndRestore

    (tmp_path / "checkpoint.json").write_text('{"weights": 3}')
    with pytest.raises(CorruptFile, match="checkpoint.json is corrupt"):
        AtomicBackupAndRestore.read_pointer(str(tmp_path))


Usage = collections.namedtuple("Usage", "total used free")


def test_free_space_is_checked_before_writing(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(
        "shutil.disk_usage", lambda path: Usage(10 << 20, 9 << 20, 1 << 20)
    )
    with pytest.raises(OSError) as error:
        check_free_space(tmp_path / "new", 50 << 20, "a checkpoint")
    assert error.value.errno == errno.ENOSPC
    assert error.value.filename == str(tmp_path / "new")

    def command(argv):
        check_free_space(tmp_path, 50 << 20, "a checkpoint")

    assert guarded(command, []) == 1
    line = capsys.readouterr().err
    assert line.count("\n") == 1 and "a checkpoint" in line
    assert "another --output-dir" in line and "Traceback" not in line


def test_feature_cache_refuses_to_spill_onto_a_full_disk(tmp_path, monkeypatch):
    monkeypatch.setattr(
        "shutil.disk_usage", lambda path: Usage(1 << 30, 1 << 30, 1000)
    )
    cache = FeatureCache([64], memory_budget=100, directory=str(tmp_path))
    cache.expected_rows = 1000
    with pytest.raises(OSError, match="feature cache") as error:
        cache.append([np.ones((8, 64))], np.zeros(8))
    assert error.value.errno == errno.ENOSPC
    cache.close()
    assert os.listdir(tmp_path) == []


def test_checkpoint_refused_on_a_full_disk_writes_nothing(
    tmp_path, monkeypatch
):
    import keras

    from keras_snp.run.fit import AtomicBackupAndRestore

    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
    backup = AtomicBackupAndRestore(str(tmp_path / "backup"))
    backup.set_model(model)
    monkeypatch.setattr(
        "shutil.disk_usage", lambda path: Usage(1 << 30, 1 << 30, 10)
    )
    with pytest.raises(OSError, match="checkpoint"):
        backup.on_epoch_end(0, {"loss": 1.0})
    assert os.listdir(tmp_path / "backup") == []


def test_unwritable_output_folder_is_refused_before_tensorflow(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    with pytest.raises(UsageError, match="--output-dir .* is not writable"):
        check_writable(str(blocker / "runs"))
    check_writable(str(tmp_path / "new" / "runs"))
    assert not (tmp_path / "new").exists()  # bad input makes no folder
    assert os.listdir(tmp_path) == ["a_file"]  # the probe is gone


def _history(*epochs):
    return [
        {"epoch": i + 1, "loss": loss, "val_accuracy": accuracy}
        for i, (loss, accuracy) in enumerate(epochs)
    ]


def test_chance_and_divergence_are_not_learning():
    chance = learned.not_learned_reason(
        _history((1.4, 0.25), (1.3, 0.27)), 4, 400
    )
    assert "within chance" in chance and "1/4" in chance
    diverged = learned.not_learned_reason(
        _history((1.4, 0.6), (7008.0, 0.9)), 4, 400
    )
    assert "diverged" in diverged
    assert learned.not_learned_reason(_history((1.4, 0.5)), 4, 400) is None
    # the ceiling is chance plus two binomial standard errors
    expected = 0.25 + 2 * np.sqrt(0.25 * 0.75 / 400)
    assert learned.chance_ceiling(4, 400) == pytest.approx(expected)


def test_last_good_checkpoint_needs_a_loss_below_the_first():
    history = _history((2.0, 0.3), (1.5, 0.4), (2e11, 0.2))
    assert learned.good_checkpoint(history, 2)
    assert not learned.good_checkpoint(history, 3)
    assert not learned.good_checkpoint(history, 1)
    assert not learned.good_checkpoint(history, 0)


def _learned_context(tmp_path, history, analyse_anyway=False):
    folder = _folder(tmp_path)
    folder.update(history=history)
    info = types.SimpleNamespace(num_classes=4, split_sizes={"validation": 400})
    return types.SimpleNamespace(
        folder=folder,
        info=info,
        config=RunConfig(analyse_anyway=analyse_anyway),
    )


def test_a_model_that_did_not_learn_is_not_analysed(tmp_path):
    ctx = _learned_context(tmp_path, _history((1.4, 0.25)))
    with pytest.raises(pipeline.NotLearned) as error:
        pipeline.check_learned(ctx)
    assert "--analyse-anyway" in str(error.value)
    assert "\n" not in str(error.value)


def test_analyse_anyway_records_why_for_every_report(tmp_path):
    from keras_snp.run.summary import summary_text

    ctx = _learned_context(tmp_path, _history((1.4, 0.25)), True)
    pipeline.check_learned(ctx)
    assert "within chance" in ctx.folder.state["not_learned"]
    lines = summary_text(ctx.folder.path).splitlines()
    assert lines[1].startswith("WARNING: analysed anyway")


def test_summary_never_names_a_file_that_does_not_verify(tmp_path):
    from keras_snp.run.summary import summary_text

    folder = _folder(tmp_path)
    _write(os.path.join(folder.path, "heads", "heads.md"), "# heads\n")
    _write(os.path.join(folder.path, "heads", "heads.json"), "{}")
    folder.finish_stage("heads")
    assert "heads/heads.md" in summary_text(folder.path)
    _write(os.path.join(folder.path, "heads", "heads.md"), "")
    text = summary_text(folder.path)
    assert "heads/heads.md does not match" in text
    assert "the label-expert report" not in text
