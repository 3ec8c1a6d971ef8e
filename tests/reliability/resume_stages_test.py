"""`--resume --stages snp ...` without train: the analysis stages read the
trained model of the run folder, not the freshly built one."""

import os

import keras
import numpy as np
import pytest

from keras_snp.run import pipeline
from tests.helpers import tiny_run_config


@pytest.mark.slow
def test_resumed_analysis_stages_read_the_trained_model(tmp_path, monkeypatch):
    folder = pipeline.run(tiny_run_config(tmp_path, stages=("train", "export")))
    trained = keras.models.load_model(os.path.join(folder.path, "model.keras"))
    seen = {}

    def snp_stage(ctx):
        seen["weights"] = [np.asarray(w) for w in ctx.model.get_weights()]
        return {}

    monkeypatch.setitem(pipeline.STAGE_FUNCTIONS, "snp", snp_stage)
    pipeline.run(tiny_run_config(tmp_path, stages=("snp",)), resume=True)
    for got, want in zip(seen["weights"], trained.get_weights()):
        np.testing.assert_array_equal(got, want)
