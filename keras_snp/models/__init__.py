"""CCT models and their layers (backend-agnostic, `keras.ops` only)."""

from keras_snp.models.cct import VARIANTS
from keras_snp.models.cct import CCTConfig
from keras_snp.models.cct import build_cct
from keras_snp.models.cct import get_config
from keras_snp.models.cct import list_variants
from keras_snp.models.cct import min_image_size
from keras_snp.models.cct import num_encoders
from keras_snp.models.flops import cct_forward_flops
from keras_snp.models.flops import cct_training_flops
from keras_snp.models.layers import ConvTokenizer
from keras_snp.models.layers import ImageNormalization
from keras_snp.models.attention import PerHeadAttention
from keras_snp.models.layers import PositionEmbedding
from keras_snp.models.layers import SequencePooling
from keras_snp.models.layers import StochasticDepth

__all__ = [
    "VARIANTS", "CCTConfig", "build_cct", "get_config", "list_variants",
    "min_image_size", "num_encoders", "ConvTokenizer", "ImageNormalization",
    "PerHeadAttention", "PositionEmbedding", "SequencePooling",
    "StochasticDepth", "cct_forward_flops", "cct_training_flops",
]
