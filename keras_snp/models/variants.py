"""The CCT variants as data: `CCTConfig`, `VARIANTS`, the size checks.

Plain Python (no Keras), so the command line checks a variant name and
an image size before Keras starts; `cct.py` builds the model from these.
"""

import dataclasses

from keras_snp.constants import CIFAR_MEAN
from keras_snp.constants import CIFAR_STD

POSITIONAL_EMBEDDINGS = ("learnable", "sine", "none")


def tokenizer_sizes(size, kernel_size, num_convs):
    """`[(conv_out, pool_out), ...]` of one side through the tokenizer.

    Each block is a conv (kernel `k`, stride `max(1, k // 2 - 1)`, padding
    `max(1, k // 2)`) then a max-pool (3, stride 2, padding 1), as in the
    official code.
    """
    stride = max(1, kernel_size // 2 - 1)
    padding = max(1, kernel_size // 2)
    sizes = []
    for _ in range(num_convs):
        conv = (size + 2 * padding - kernel_size) // stride + 1
        size = (conv + 2 - 3) // 2 + 1
        sizes.append((conv, size))
    return sizes


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
        if token_grid(self, self.image_size) < 2:
            minimum = min_image_size(self)
            raise ValueError(
                f"`image_size` must be at least {minimum} for a "
                f"{self.num_convs}-conv tokenizer with kernel size "
                f"{self.kernel_size}. Received: image_size={self.image_size}"
            )
        return self


def min_image_size(config):
    """The smallest square image giving the tokenizer a 2x2 token grid."""
    size = 1
    while token_grid(config, size) < 2:
        size += 1
    return size


def token_grid(config, size):
    """Tokens along one side of a `size`-pixel image."""
    return tokenizer_sizes(size, config.kernel_size, config.num_convs)[-1][1]


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
    "cct_2_3x2": _variant(
        2, 2, 1, 128, 3, 2, **{"32/10": 283_723, "32/100": 295_333}
    ),
    "cct_4_3x2": _variant(4, 2, 1, 128, 3, 2, **{"32/100": 493_733}),
    # Ours, not an official CCT: CCT-4/3x2 with 4 heads of width 32, so a
    # head-expert test has 4 heads per encoder to compare (issue 23).
    "cct_4_3x2_h4": _variant(4, 4, 1, 128, 3, 2),
    "cct_6_3x1": _variant(6, 4, 2, 256, 3, 1, **{"32/100": 3_256_933}),
    "cct_6_3x2": _variant(6, 4, 2, 256, 3, 2, **{"32/100": 3_350_053}),
    "cct_7_3x1": _variant(
        7, 4, 2, 256, 3, 1, **{"32/10": 3_760_139, "32/100": 3_783_269}
    ),
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
