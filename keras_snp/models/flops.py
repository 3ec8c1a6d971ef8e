"""Analytic FLOP counts of a CCT, for throughput and MFU reports.

One multiply-add counts as two FLOPs. Only the matrix products are counted
(convolutions, dense layers, attention scores and weighted sums, sequence
pooling, classifier); norms, activations, softmax and pooling are a few
percent at most and are left out, as is usual for MFU figures.
"""

from keras_snp.models.cct import CCTConfig
from keras_snp.models.cct import get_config
from keras_snp.models.layers import tokenizer_sizes


def _conv_sizes(config):
    """Per conv: `(out_rows, out_cols, in_channels, out_channels)`."""
    steps = tokenizer_sizes(
        config.image_size, config.kernel_size, config.num_convs
    )
    widths = [config.intermediate_dim] * (config.num_convs - 1)
    widths.append(config.embed_dim)
    sizes = [
        (conv, conv, channels, width)
        for (conv, _), channels, width in zip(steps, [3] + widths[:-1], widths)
    ]
    return sizes, steps[-1][1] ** 2


def cct_forward_flops(variant, **overrides):
    """Forward FLOPs for one image of a CCT.

    Args:
        variant: a variant name or a `CCTConfig`.
        **overrides: `CCTConfig` fields, as for `build_cct`
            (`image_size`, `num_classes`, ...).

    Returns:
        A dict: `tokenizer`, `attention` (qkv, scores, weighted sum,
        projection), `mlp`, `head` (pooling and classifier) and `total`,
        all in FLOPs per image.

    Example:
    >>> flops = cct_forward_flops("cct_2_3x2", image_size=32, num_classes=10)
    >>> round(flops["total"] / 1e6)
    71
    """
    config = variant
    if not isinstance(variant, CCTConfig) or overrides:
        config = get_config(variant, **overrides)
    kernel = config.kernel_size
    convs, tokens = _conv_sizes(config)
    tokenizer = sum(2 * r * c * kernel * kernel * i * o for r, c, i, o in convs)
    dim = config.embed_dim
    hidden = int(dim * config.mlp_ratio)
    layers = config.num_layers
    attention = layers * (
        2 * tokens * dim * 3 * dim  # packed qkv
        + 2 * 2 * tokens * tokens * dim  # scores and weighted sum
        + 2 * tokens * dim * dim  # output projection
    )
    mlp = layers * 2 * 2 * tokens * dim * hidden
    head = 2 * 2 * tokens * dim + 2 * dim * config.num_classes
    total = tokenizer + attention + mlp + head
    return {
        "tokenizer": tokenizer,
        "attention": attention,
        "mlp": mlp,
        "head": head,
        "total": total,
    }


def cct_training_flops(variant, **overrides):
    """Training FLOPs per image: three times the forward count."""
    return 3 * cct_forward_flops(variant, **overrides)["total"]
