"""Tiny models of every kind an adapter reads, and the checks the tests
run on each backend (in this process, and on JAX in a subprocess)."""

import keras
import numpy as np
from keras import ops

from keras_snp.sites import ablate
from keras_snp.sites import find_sites
from keras_snp.sites import run_with_cache


def flat_attention(tokens=4, width=8, classes=5):
    """A functional model with top-level MHA and MLP layers."""
    inputs = keras.Input((tokens, width))
    x = keras.layers.MultiHeadAttention(2, 3, name="attn")(inputs, inputs)
    x = keras.layers.Add()([inputs, x])
    x = keras.layers.Dense(16, activation="gelu", name="mlp")(x)
    x = keras.layers.Dense(width, name="mlp_out")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes, name="head")(x))


class Block(keras.layers.Layer):
    """A ViT-like encoder block: MHA and MLP nested inside one layer (as in
    keras-hub's `ViTEncoder`)."""

    def __init__(self, heads=2, head_dim=4, hidden=12, **kwargs):
        super().__init__(**kwargs)
        self.heads, self.head_dim, self.hidden = heads, head_dim, hidden

    def build(self, input_shape):
        width = input_shape[-1]
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.attention = keras.layers.MultiHeadAttention(
            self.heads, self.head_dim, name="attention"
        )
        self.mlp_1 = keras.layers.Dense(
            self.hidden, activation="gelu", name="mlp_1"
        )
        self.mlp_2 = keras.layers.Dense(width, name="mlp_2")
        self.norm.build(input_shape)
        self.attention.build(input_shape, input_shape)
        self.mlp_1.build(input_shape)
        self.mlp_2.build((*input_shape[:-1], self.hidden))

    def call(self, x):
        y = self.norm(x)
        x = x + self.attention(y, y)
        return x + self.mlp_2(self.mlp_1(x))


def nested_attention(tokens=5, width=8, classes=5, blocks=2):
    inputs = keras.Input((tokens, width))
    x = inputs
    for index in range(blocks):
        x = Block(name=f"encoder_block_{index}")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(inputs, keras.layers.Dense(classes)(x))


def small_cnn(classes=5):
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="block1_conv1"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(6, 3, activation="relu", name="block2_conv1"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(classes, name="classifier"),
        ],
        name="cnn",
    )


def hand_masked_copy(model, site, silenced, layer_of):
    """A copy of `model` whose weights silence `silenced` nodes of `site`
    (kernel entries zeroed), the slow obvious reference for `ablate`."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    layer = layer_of(copy, site.path)
    if site.point == "heads":
        projection = layer._output_dense
        kernel = ops.convert_to_numpy(projection.kernel).copy()
        heads, head_dim = kernel.shape[:2]
        flat = kernel.reshape(heads * head_dim, -1)
        flat[silenced] = 0.0
        projection.kernel.assign(flat.reshape(kernel.shape))
    else:  # a Dense or Conv2D whose activation maps 0 to 0
        kernel = ops.convert_to_numpy(layer.kernel).copy()
        kernel[..., silenced] = 0.0
        layer.kernel.assign(kernel)
        bias = ops.convert_to_numpy(layer.bias).copy()
        bias[silenced] = 0.0
        layer.bias.assign(bias)
    return copy


def ablation_errors(seed=0):
    """Largest |ablated - hand-masked| and |cache - reference| over every
    kind of model, and whether the model is intact after the hooks."""
    from keras_snp.sites import AblationModel
    from keras_snp.sites import layer_at

    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    cases = {
        "flat": (flat_attention(), (6, 4, 8)),
        "cnn": (small_cnn(), (6, 8, 8, 3)),
    }
    report = {}
    for name, (model, shape) in cases.items():
        x = rng.normal(size=shape).astype("float32")
        before = ops.convert_to_numpy(model(x))
        outputs, cache = run_with_cache(model, x, find_sites(model))
        report[f"{name}/outputs"] = float(np.abs(outputs - before).max())
        sites = find_sites(model)
        sweep = AblationModel(model, sites)
        for site in sites:
            silenced = rng.choice(site.nodes, size=2, replace=False)
            with ablate(model, {site: silenced}):
                ablated = model.predict(x, verbose=0)
            reference = hand_masked_copy(model, site, silenced, layer_at)
            expected = ops.convert_to_numpy(reference(x))
            report[f"{name}/{site.name}"] = float(
                np.abs(ablated - expected).max()
            )
            # one compiled predict for every mask of the sweep
            sweep.silence({site: silenced})
            swept = sweep.predict(x, verbose=0)
            report[f"{name}/{site.name}/sweep"] = float(
                np.abs(swept - expected).max()
            )
            report[f"{name}/{site.name}/changed"] = float(
                np.abs(ablated - before).max()
            )
            zeros = site.flat(run_with_cache_ablated(model, x, site, silenced))[
                ..., silenced
            ]
            report[f"{name}/{site.name}/zeros"] = float(np.abs(zeros).max())
        after = model.predict(x, verbose=0)
        report[f"{name}/intact"] = float(np.abs(after - before).max())
    return report


def run_with_cache_ablated(model, x, site, silenced):
    with ablate(model, {site: silenced}):
        return run_with_cache(model, x, [site])[1][site.name]
