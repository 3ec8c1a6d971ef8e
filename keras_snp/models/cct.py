"""The Compact Convolutional Transformer as a functional Keras model.

Every place the SNP engine studies is the output of a named layer:
`tokenizer`, `encoder_{l}_mha` (per-head attention outputs before the
projection), `encoder_{l}_ff_hidden` (FF hidden units after GELU),
`encoder_{l}_out` (the residual stream leaving encoder `l`), `classifier`.
"""

import dataclasses

import keras
import numpy as np

from keras_snp.constants import CIFAR_MEAN
from keras_snp.constants import CIFAR_STD
from keras_snp.models.layers import ConvTokenizer
from keras_snp.models.layers import ImageNormalization
from keras_snp.models.attention import PerHeadAttention
from keras_snp.models.layers import PositionEmbedding
from keras_snp.models.layers import SequencePooling
from keras_snp.models.layers import StochasticDepth

POSITIONAL_EMBEDDINGS = ("learnable", "sine", "none")


def _dense(units, name, use_bias=True, activation=None, dtype=None):
    return keras.layers.Dense(
        units,
        use_bias=use_bias,
        activation=activation,
        kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
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
        heads, key_dim, dropout=config.attention_dropout,
        implementation=config.attention,
        softmax_dtype=config.softmax_dtype, name=p + "mha"
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


@dataclasses.dataclass(frozen=True)
class CCTConfig:
    """The shape of a CCT. `build_cct` turns it into a model."""

    num_layers: int
    num_heads: int
    mlp_ratio: float
    embed_dim: int
    kernel_size: int
    num_convs: int
    image_size: int = 32
    num_classes: int = 100
    positional_embedding: str = "learnable"
    attention_dropout: float = 0.1
    stochastic_depth: float = 0.1
    intermediate_dim: int = 64
    attention: str = "auto"
    softmax_dtype: str = "float32"
    mean: tuple = CIFAR_MEAN
    std: tuple = CIFAR_STD
    official_params: dict = dataclasses.field(default_factory=dict)

    def validate(self):
        if self.embed_dim % self.num_heads:
            raise ValueError(
                "`embed_dim` must be divisible by `num_heads`. Received: "
                f"embed_dim={self.embed_dim}, num_heads={self.num_heads}"
            )
        if self.positional_embedding not in POSITIONAL_EMBEDDINGS:
            raise ValueError(
                f"`positional_embedding` must be one of "
                f"{POSITIONAL_EMBEDDINGS}. Received: "
                f"positional_embedding={self.positional_embedding!r}"
            )
        if self.num_classes < 2:
            raise ValueError(
                "`num_classes` must be >= 2. "
                f"Received: num_classes={self.num_classes}"
            )
        tokenizer = ConvTokenizer(
            self.embed_dim, self.kernel_size, self.num_convs
        )
        rows, cols = tokenizer.output_grid(self.image_size, self.image_size)
        if rows < 2 or cols < 2:
            minimum = min_image_size(self)
            raise ValueError(
                f"`image_size`={self.image_size} is too small for a "
                f"{self.num_convs}-conv tokenizer with kernel "
                f"{self.kernel_size}: use --image-size {minimum} or more."
            )
        return self


def min_image_size(config):
    """The smallest square image giving the tokenizer a 2x2 token grid."""
    tokenizer = ConvTokenizer(config.embed_dim, config.kernel_size,
                              config.num_convs)
    size = 1
    while min(tokenizer.output_grid(size, size)) < 2:
        size += 1
    return size


def _variant(layers, heads, mlp_ratio, dim, kernel, convs, **params):
    return CCTConfig(
        num_layers=layers,
        num_heads=heads,
        mlp_ratio=mlp_ratio,
        embed_dim=dim,
        kernel_size=kernel,
        num_convs=convs,
        official_params=params,
    )


# `official_params` maps "image_size/num_classes" to the parameter count of
# the official SHI-Labs model (METHOD.md section 5).
VARIANTS = {
    "cct_2_3x2": _variant(2, 2, 1, 128, 3, 2, **{
        "32/10": 283_723, "32/100": 295_333}),
    "cct_4_3x2": _variant(4, 2, 1, 128, 3, 2, **{"32/100": 493_733}),
    "cct_6_3x1": _variant(6, 4, 2, 256, 3, 1, **{"32/100": 3_256_933}),
    "cct_6_3x2": _variant(6, 4, 2, 256, 3, 2, **{"32/100": 3_350_053}),
    "cct_7_3x1": _variant(7, 4, 2, 256, 3, 1, **{
        "32/10": 3_760_139, "32/100": 3_783_269}),
    "cct_7_3x2": _variant(7, 4, 2, 256, 3, 2, **{"32/100": 3_876_389}),
    "cct_7_7x2": _variant(7, 4, 2, 256, 7, 2, **{"224/102": 4_573_735}),
    "cct_14_7x2": _variant(14, 6, 3, 384, 7, 2, **{"224/1000": 22_367_273}),
}


def list_variants():
    """The names of the registered CCT variants."""
    return sorted(VARIANTS)


def get_config(variant, **overrides):
    """A `CCTConfig` for a variant name (or a config) with overrides."""
    if isinstance(variant, CCTConfig):
        base = variant
    elif variant in VARIANTS:
        base = VARIANTS[variant]
    else:
        raise ValueError(
            f"Unknown CCT variant {variant!r}: use one of "
            f"{', '.join(list_variants())}, or pass a CCTConfig."
        )
    fields = {f.name for f in dataclasses.fields(CCTConfig)}
    unknown = set(overrides) - fields
    if unknown:
        raise ValueError(
            f"Unknown CCT setting(s) {sorted(unknown)}: use any of "
            f"{sorted(fields)}."
        )
    overrides = {k: v for k, v in overrides.items() if v is not None}
    return dataclasses.replace(base, **overrides).validate()


def build_cct(variant="cct_7_3x1", num_classes=None, image_size=None,
              positional_embedding=None, name=None, **overrides):
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
