"""`RunConfig` round-trips through run.json, and an older run.json (flat
keys, one this version does not know) still reads and resumes."""

import json

from keras_snp.run.config import RunConfig
from keras_snp.run.folder import RunFolder
from keras_snp.run.folder import unlock_run

# The config of a run.json written before the stage settings moved to
# keras_snp.settings, plus a key no version of RunConfig has.
OLD_RUN_JSON_CONFIG = {
    "dataset": "synthetic",
    "variant": "cct_2_3x2",
    "positional_embedding": "learnable",
    "image_size": 32,
    "epochs": 2,
    "batch_size": 8,
    "output_dir": "saved_models",
    "run_name": "old",
    "seed": 0,
    "recipe": "light",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.25, 0.25, 0.25],
    "stages": ["train", "snp"],
    "theta": 0.3,
    "readout": "flatten",
    "readout_solver": "lbfgs",
    "readout_views": 2,
    "readout_tolerance": 0.0001,
    "readout_max_passes": 1000,
    "snp_epochs": 200,
    "taps": ["encoder_1_mha"],
    "null_samples": 100,
    "ablation": True,
    "prune_scope": "all",
    "retired_setting": 1,
}


def test_round_trip_through_run_json(tmp_path):
    config = RunConfig(
        run_name="r",
        variant="cct_2_3x2",
        mean=(0.5, 0.4, 0.3),
        std=(0.2, 0.2, 0.2),
        stages=("train", "snp"),
        taps=("encoder_1_mha", "encoder_1_out"),
        readout_solver="lab",
        readout_views=3,
        snp_epochs=5,
        null_samples=7,
        ablation=False,
        prune_scope="readout+ff",
    )
    folder = RunFolder.create(str(tmp_path), "r", config)
    unlock_run(folder.path)
    with open(tmp_path / "r" / "run.json") as f:
        saved = json.load(f)["config"]
    assert saved["readout_views"] == 3 and saved["taps"] == list(config.taps)
    assert RunConfig.from_dict(saved) == config
    assert RunConfig.from_dict(saved).to_dict() == saved


def test_an_old_run_json_reads_and_resumes(tmp_path):
    path = tmp_path / "old"
    path.mkdir()
    state = {
        "config": OLD_RUN_JSON_CONFIG,
        "stages": {"train": {"status": "done"}, "snp": {"status": "done"}},
        "history": [{"epoch": 1}, {"epoch": 2}],
    }
    (path / "run.json").write_text(json.dumps(state))
    config = RunConfig.from_dict(OLD_RUN_JSON_CONFIG)
    assert config.taps == ("encoder_1_mha",) and config.mean == (0.5,) * 3
    assert config.readout_settings()["views"] == 2
    # the same settings resume: no identity or drift error
    folder = RunFolder.create(str(tmp_path), "old", config, resume=True)
    unlock_run(folder.path)
    assert folder.state["config"]["readout_views"] == 2


def test_missing_keys_take_the_defaults():
    config = RunConfig.from_dict({"dataset": "synthetic", "seed": 3})
    assert config == RunConfig(seed=3)
