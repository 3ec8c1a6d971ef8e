"""CCT models and their layers (backend-agnostic, `keras.ops` only).

The names below are imported on first use (PEP 562): `variants.py` is
plain Python, so `keras_snp.models.VARIANTS` and `min_image_size` answer
without starting Keras. The layers are registered with Keras by
`keras_snp` itself (see `keras_snp.register_serializables`).
"""

from keras_snp.utils import lazy_exports

_EXPORTS = {
    "VARIANTS": "variants",
    "CCTConfig": "variants",
    "get_config": "variants",
    "list_variants": "variants",
    "min_image_size": "variants",
    "build_cct": "cct",
    "num_encoders": "cct",
    "count_flops": "flops",
    "ConvTokenizer": "layers",
    "ImageNormalization": "layers",
    "PositionEmbedding": "layers",
    "SequencePooling": "layers",
    "StochasticDepth": "layers",
    "PerHeadAttention": "attention",
}

__all__ = [
    "VARIANTS",
    "CCTConfig",
    "ConvTokenizer",
    "ImageNormalization",
    "PerHeadAttention",
    "PositionEmbedding",
    "SequencePooling",
    "StochasticDepth",
    "build_cct",
    "count_flops",
    "get_config",
    "list_variants",
    "min_image_size",
    "num_encoders",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
