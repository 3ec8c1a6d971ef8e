"""keras_snp: train Compact Convolutional Transformers, read them node by node.

Importing the package registers every custom layer, so saved models load
with `keras.models.load_model` (safe mode). TensorFlow is imported only by
the data, strategy, export and TensorBoard modules.
"""

from keras_snp.models import VARIANTS
from keras_snp.models import CCTConfig
from keras_snp.models import build_cct
from keras_snp.models import list_variants

__version__ = "0.1.0"

__all__ = ["VARIANTS", "CCTConfig", "build_cct", "list_variants"]
