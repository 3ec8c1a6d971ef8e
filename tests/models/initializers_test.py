"""The official initialisers: PyTorch's cut bounds, not Keras's 2 sigma."""

import keras
import numpy as np

from keras_snp.models.initializers import AbsoluteTruncatedNormal
from keras_snp.models.initializers import kaiming_normal
from tests.helpers import tiny_cct


def _draw(init, shape):
    return np.asarray(keras.ops.convert_to_numpy(init(shape)), "float64")


def test_std_is_the_official_not_keras_truncated():
    values = _draw(AbsoluteTruncatedNormal(stddev=0.02, seed=1), (400, 500))
    # Keras's TruncatedNormal(0.02) gives 0.0176 (cut at 2 sigma).
    assert abs(values.std() - 0.02) < 2e-4
    assert np.abs(values).max() > 3 * 0.02  # no 2-sigma cut
    keras_cut = _draw(
        keras.initializers.TruncatedNormal(stddev=0.02, seed=1), (400, 500)
    )
    assert abs(keras_cut.std() - 0.0176) < 3e-4


def test_absolute_bound_clips_and_round_trips():
    values = _draw(
        AbsoluteTruncatedNormal(stddev=1.0, bound=0.5, seed=2), (1000,)
    )
    assert values.min() >= -0.5 and values.max() <= 0.5
    config = AbsoluteTruncatedNormal(stddev=0.2, seed=3).get_config()
    again = AbsoluteTruncatedNormal.from_config(config)
    assert (again.stddev, again.bound, again.seed) == (0.2, 2.0, 3)


def test_kaiming_normal_is_uncut_with_fan_in_gain():
    values = _draw(kaiming_normal(), (3, 3, 64, 256))  # fan-in 576
    assert abs(values.std() - np.sqrt(2 / 576)) < 1e-3
    assert np.abs(values).max() > 3 * np.sqrt(2 / 576)


def test_model_uses_them_and_saves(tmp_path):
    model = tiny_cct()
    dense = model.get_layer("classifier")
    assert isinstance(dense.kernel_initializer, AbsoluteTruncatedNormal)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    assert isinstance(
        loaded.get_layer("classifier").kernel_initializer,
        AbsoluteTruncatedNormal,
    )
