"""The Compact Convolutional Transformer as a functional Keras model.

Every place the SNP engine studies is the output of a named layer:
`tokenizer`, `encoder_{l}_mha` (per-head attention outputs before the
projection), `encoder_{l}_ff_hidden` (FF hidden units after GELU),
`encoder_{l}_out` (the residual stream leaving encoder `l`), `classifier`.
"""

import keras
import numpy as np

from keras_snp.models.attention import PerHeadAttention
from keras_snp.models.initializers import AbsoluteTruncatedNormal
from keras_snp.models.layers import ConvTokenizer
from keras_snp.models.layers import ImageNormalization
from keras_snp.models.layers import PositionEmbedding
from keras_snp.models.layers import SequencePooling
from keras_snp.models.layers import StochasticDepth
from keras_snp.models.variants import POSITIONAL_EMBEDDINGS  # noqa: F401
from keras_snp.models.variants import VARIANTS  # noqa: F401
from keras_snp.models.variants import CCTConfig  # noqa: F401
from keras_snp.models.variants import get_config
from keras_snp.models.variants import list_variants  # noqa: F401
from keras_snp.models.variants import min_image_size  # noqa: F401


def _dense(units, name, use_bias=True, activation=None, dtype=None):
    return keras.layers.Dense(
        units,
        use_bias=use_bias,
        activation=activation,
        kernel_initializer=AbsoluteTruncatedNormal(stddev=0.02),
        name=name,
        dtype=dtype,
    )


def encoder_block(x, index, config, drop_path_rate):
    """One CCT block: `x + DropPath(MHA(LN(x)))`, LN, `x + DropPath(MLP(x))`.

    `index` counts from 1 and names the layers `encoder_{index}_*`.
    """
    p = f"encoder_{index}_"
    dim, heads = config.embed_dim, config.num_heads
    key_dim = dim // heads
    h = keras.layers.LayerNormalization(epsilon=1e-5, name=p + "pre_norm")(x)
    qkv = _dense(3 * dim, p + "qkv", use_bias=False)(h)
    h = PerHeadAttention(
        heads,
        key_dim,
        dropout=config.attention_dropout,
        implementation=config.attention,
        softmax_dtype=config.softmax_dtype,
        name=p + "mha",
    )(qkv)
    h = _dense(dim, p + "attn_proj")(h)
    h = StochasticDepth(drop_path_rate, name=p + "attn_drop_path")(h)
    x = keras.layers.Add(name=p + "attn_add")([x, h])
    x = keras.layers.LayerNormalization(epsilon=1e-5, name=p + "norm")(x)
    hidden = int(dim * config.mlp_ratio)
    h = _dense(hidden, p + "ff_hidden", activation="gelu")(x)
    h = _dense(dim, p + "ff_out")(h)
    h = StochasticDepth(drop_path_rate, name=p + "ff_drop_path")(h)
    return keras.layers.Add(name=p + "out")([x, h])


def build_cct(
    variant="cct_7_3x1",
    num_classes=None,
    image_size=None,
    positional_embedding=None,
    name=None,
    **overrides,
):
    """Builds a CCT as a functional model with named tap layers.

    Args:
        variant: a name from `VARIANTS` or a `CCTConfig` (any size).
        num_classes: number of labels K.
        image_size: side of the square RGB input, pixels in 0..255.
        positional_embedding: `"learnable"`, `"sine"` or `"none"`.
        name: model name (default: the variant name).
        **overrides: any other `CCTConfig` field (`num_layers`,
            `num_heads`, `embed_dim`, `mlp_ratio`, `kernel_size`,
            `num_convs`, `mean`, `std`, dropout rates, ...).

    Returns:
        A `keras.Model` from `(batch, image_size, image_size, 3)` float32
        images to `(batch, num_classes)` float32 logits.

    Example:
    >>> model = build_cct("cct_2_3x2", num_classes=10, image_size=32)
    >>> model.count_params()
    283723
    """
    config = get_config(
        variant,
        num_classes=num_classes,
        image_size=image_size,
        positional_embedding=positional_embedding,
        **overrides,
    )
    size = config.image_size
    images = keras.Input((size, size, 3), name="images")
    x = ImageNormalization(config.mean, config.std, name="normalize")(images)
    x = ConvTokenizer(
        config.embed_dim,
        config.kernel_size,
        config.num_convs,
        config.intermediate_dim,
        name="tokenizer",
    )(x)
    if config.positional_embedding != "none":
        x = PositionEmbedding(
            config.positional_embedding, name="position_embedding"
        )(x)
    rates = np.linspace(0, config.stochastic_depth, config.num_layers)
    for index in range(1, config.num_layers + 1):
        x = encoder_block(x, index, config, float(rates[index - 1]))
    x = keras.layers.LayerNormalization(epsilon=1e-5, name="final_norm")(x)
    x = SequencePooling(name="sequence_pool")(x)
    logits = _dense(config.num_classes, "classifier", dtype="float32")(x)
    if name is None:
        name = variant if isinstance(variant, str) else "cct"
    return keras.Model(images, logits, name=name)


def num_encoders(model):
    """Number of encoder blocks in a CCT built by `build_cct`."""
    count = 0
    while _has_layer(model, f"encoder_{count + 1}_out"):
        count += 1
    return count


def _has_layer(model, name):
    return any(layer.name == name for layer in model.layers)
