"""`--resume --stages snp ...` without train: the analysis stages read the
trained model of the run folder, not the freshly built one."""

import os

import keras
import numpy as np
import pytest

from keras_snp.run import pipeline
from keras_snp.run.config import RunConfig


@pytest.mark.slow
def test_resumed_analysis_stages_read_the_trained_model(tmp_path, monkeypatch):
    settings = dict(
        dataset="synthetic",
        variant="cct_2_3x2",
        image_size=16,
        epochs=1,
        batch_size=8,
        num_classes=3,
        examples_per_class=8,
        output_dir=str(tmp_path),
        run_name="r",
        verbose=0,
    )
    folder = pipeline.run(RunConfig(stages=("train", "export"), **settings))
    trained = keras.models.load_model(os.path.join(folder.path, "model.keras"))
    seen = {}

    def snp_stage(ctx):
        seen["weights"] = [np.asarray(w) for w in ctx.model.get_weights()]
        return {}

    monkeypatch.setitem(pipeline.STAGE_FUNCTIONS, "snp", snp_stage)
    pipeline.run(RunConfig(stages=("snp",), **settings), resume=True)
    for got, want in zip(seen["weights"], trained.get_weights()):
        np.testing.assert_array_equal(got, want)
