import os
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_snp.run import export
from keras_snp.utils import UsageError
from tests.helpers import tiny_cct


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    model = tiny_cct()
    directory = str(tmp_path_factory.mktemp("export"))
    export.export_model(model, directory)
    return model, directory


def images(n=3):
    return (
        np.random.default_rng(1)
        .uniform(0, 255, (n, 16, 16, 3))
        .astype("float32")
    )


def test_keras_file_round_trip_in_safe_mode(exported):
    model, directory = exported
    loaded = keras.models.load_model(os.path.join(directory, "model.keras"))
    x = images()
    diff = np.abs(loaded.predict(x, verbose=0) - model.predict(x, verbose=0))
    assert diff.max() < 1e-5


def test_saved_model_serve_endpoint(exported):
    model, directory = exported
    path = os.path.join(directory, "saved_model")
    assert export.max_output_difference(model, path, images()) < 1e-5
    layer = keras.layers.TFSMLayer(path, call_endpoint="serve")
    assert layer(tf.constant(images(2))).shape == (2, 5)


def test_no_temporary_files_left(exported):
    _, directory = exported
    assert sorted(os.listdir(directory)) == ["model.keras", "saved_model"]


def test_corrupt_and_truncated_files_give_one_line(tmp_path, exported):
    _, directory = exported
    good = open(os.path.join(directory, "model.keras"), "rb").read()
    truncated = tmp_path / "truncated.keras"
    truncated.write_bytes(good[: len(good) // 2])
    garbage = tmp_path / "garbage.keras"
    garbage.write_bytes(b"not a model at all")
    for path in (truncated, garbage):
        with pytest.raises(UsageError, match="corrupt|not a readable"):
            export.load_model(str(path))
    with pytest.raises(UsageError, match="No model file"):
        export.load_model(str(tmp_path / "missing.keras"))


def test_model_needing_unsafe_mode_is_refused(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda x: x * 2)(inputs)
    path = str(tmp_path / "lambda.keras")
    keras.Model(inputs, outputs).save(path)
    with pytest.raises(UsageError, match="--unsafe"):
        export.load_model(path)
    loaded = export.load_model(path, safe_mode=False)
    np.testing.assert_allclose(loaded(np.ones((1, 4), "float32")), [[2.0] * 4])
    assert zipfile.is_zipfile(path)
