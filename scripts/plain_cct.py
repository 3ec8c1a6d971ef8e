"""A plain Keras 3 CCT: the speed baseline of `bench_train.py --baseline`.

The same shape as `keras_snp.build_cct` (tokenizer, learnable positions,
encoders, sequence pooling) written with stock Keras layers only:
`keras.layers.MultiHeadAttention`, `MaxPooling2D(padding="same")`. It is
what a user would write without our layers, and so the reference every
speed ratio is measured against.
"""

import keras

from keras_snp.models import get_config
from keras_snp.models.layers import PositionEmbedding
from keras_snp.models.layers import SequencePooling
from keras_snp.models.layers import StochasticDepth


def build_plain_cct(variant, num_classes, image_size, **overrides):
    """The plain-Keras CCT of the same size as `build_cct(variant, ...)`."""
    config = get_config(
        variant, num_classes=num_classes, image_size=image_size, **overrides
    )
    kernel = config.kernel_size
    stride, padding = max(1, kernel // 2 - 1), max(1, kernel // 2)
    images = keras.Input((image_size, image_size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(images)
    widths = [config.intermediate_dim] * (config.num_convs - 1)
    for width in widths + [config.embed_dim]:
        x = keras.layers.ZeroPadding2D(padding)(x)
        x = keras.layers.Conv2D(
            width, kernel, strides=stride, use_bias=False, activation="relu"
        )(x)
        x = keras.layers.MaxPooling2D(3, 2, padding="same")(x)
    x = keras.layers.Reshape((-1, config.embed_dim))(x)
    x = PositionEmbedding("learnable")(x)
    dim, heads = config.embed_dim, config.num_heads
    rates = [
        config.stochastic_depth * i / max(1, config.num_layers - 1)
        for i in range(config.num_layers)
    ]
    for rate in rates:
        h = keras.layers.LayerNormalization(epsilon=1e-5)(x)
        h = keras.layers.MultiHeadAttention(
            heads, dim // heads, dropout=config.attention_dropout
        )(h, h)
        x = keras.layers.Add()([x, StochasticDepth(rate)(h)])
        x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
        h = keras.layers.Dense(int(dim * config.mlp_ratio), activation="gelu")(
            x
        )
        h = keras.layers.Dense(dim)(h)
        x = keras.layers.Add()([x, StochasticDepth(rate)(h)])
    x = keras.layers.LayerNormalization(epsilon=1e-5)(x)
    x = SequencePooling()(x)
    logits = keras.layers.Dense(num_classes, dtype="float32")(x)
    return keras.Model(images, logits, name="plain_cct")
