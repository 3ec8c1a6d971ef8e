"""The training recipe against closed forms and hand computations."""

import math

import keras
import numpy as np
import pytest

from keras_snp.training import recipe as recipe_lib
from keras_snp.training import strategy
from tests.helpers import tiny_cct


def _lr(schedule, step):
    return float(keras.ops.convert_to_numpy(schedule(step)))


def test_warmup_then_cosine_matches_the_closed_form():
    recipe = recipe_lib.make_recipe("official", learning_rate=1e-3)
    # 20 epochs: warm-up shortened to a tenth of the run (2 epochs).
    schedule = recipe_lib.learning_rate_schedule(
        recipe, epochs=20, steps_per_epoch=5
    )
    peak, floor = 1e-3, recipe.min_learning_rate
    warmup, total = 10, 100

    def cosine(step):
        t = (step - warmup) / (total - warmup)
        return floor + (peak - floor) * 0.5 * (1 + math.cos(math.pi * t))

    expected = {
        0: 0.0,
        5: peak / 2,
        10: peak,
        55: cosine(55),
        80: cosine(80),
        100: floor,
    }
    for step, value in expected.items():
        assert _lr(schedule, step) == pytest.approx(
            value, rel=1e-4, abs=1e-9
        ), step


def test_adamw_decays_what_timm_decays():
    model = tiny_cct()
    recipe = recipe_lib.make_recipe(
        "official", learning_rate=0.1, weight_decay=0.5, warmup_epochs=0
    )
    optimizer = recipe_lib.make_optimizer(recipe, epochs=1, steps_per_epoch=1)
    variables = model.trainable_variables
    before = [np.array(keras.ops.convert_to_numpy(v)) for v in variables]
    optimizer.apply_gradients([(keras.ops.zeros_like(v), v) for v in variables])
    decayed = set()
    for v, old in zip(variables, before):
        new = keras.ops.convert_to_numpy(v)
        if not np.array_equal(new, old):
            # Zero gradient: AdamW's step is the decoupled decay alone.
            np.testing.assert_allclose(
                new, old * (1 - 0.1 * 0.5), rtol=1e-5, atol=1e-7
            )
            decayed.add(v.path)
    # timm's rule: every parameter of two or more dimensions, the
    # positional embedding included; no bias or normalisation scale.
    matrices = {v.path for v in variables if len(v.shape) >= 2}
    assert decayed == matrices
    assert any("position_embedding" in path for path in decayed)
    names = {v.path.split("/")[-1] for v in variables} - {"kernel"}
    assert {"bias", "gamma", "beta"} <= names  # really excluded, not absent


@pytest.mark.parametrize(
    "epochs,total", [(300, 310), (60, 62), (29, 29), (2, 2)]
)
def test_official_cool_down_follows_the_cosine(epochs, total):
    recipe = recipe_lib.make_recipe("official")
    assert recipe_lib.total_epochs(recipe, epochs) == total
    assert recipe_lib.total_epochs(recipe_lib.make_recipe("light"), 300) == 300
    schedule = recipe_lib.learning_rate_schedule(recipe, epochs, 4)
    floor = recipe.min_learning_rate
    for epoch in range(epochs, total):
        assert _lr(schedule, 4 * epoch + 2) == pytest.approx(floor, rel=1e-4)
    assert _lr(schedule, 4 * epochs - 8) > floor * 1.0001


def test_adamw_epsilon_per_recipe():
    official = recipe_lib.make_optimizer(
        recipe_lib.make_recipe("official"), 10, 1
    )
    light = recipe_lib.make_optimizer(recipe_lib.make_recipe("light"), 10, 1)
    assert (official.epsilon, light.epsilon) == (1e-8, 1e-7)


@pytest.mark.parametrize(
    "name,smoothing", [("official", 0.1), ("light", 0.0), ("none", 0.0)]
)
def test_label_smoothing_per_recipe(name, smoothing):
    loss = recipe_lib.make_loss(recipe_lib.make_recipe(name))
    logits = np.array([[2.0, 0.0, 0.0]], "float32")
    labels = np.array([[1.0, 0.0, 0.0]], "float32")
    # Smoothed target of the true class: 1 - s + s / K.
    target = 1 - smoothing + smoothing / 3
    expected = math.log(math.exp(2) + 2) - 2 * target
    value = float(keras.ops.convert_to_numpy(loss(labels, logits)))
    assert value == pytest.approx(expected, rel=1e-5)


def test_default_precision_is_float32_on_cpu():
    assert strategy.default_precision() == "float32"
