"""keras_snp: train Compact Convolutional Transformers, read them node by node.

Importing the package registers every custom layer, so saved models load
with `keras.models.load_model` (safe mode). TensorFlow is imported only by
the data, strategy, export and TensorBoard code that needs it, so the
package imports and runs under `KERAS_BACKEND=jax` without TensorFlow.

Example:
```python
import keras_snp

model = keras_snp.build_cct("cct_7_3x1", num_classes=100, image_size=32)
splits = keras_snp.data.load("cifar100", image_size=32, batch_size=128)
```
"""

from keras_snp import data
from keras_snp import heads
from keras_snp import models
from keras_snp import pruning
from keras_snp import snp
from keras_snp.heads import analyze_heads
from keras_snp.heads import write_heads_report
from keras_snp.models import VARIANTS
from keras_snp.models import CCTConfig
from keras_snp.models import build_cct
from keras_snp.models import list_variants
from keras_snp.pruning import ANDCPrune
from keras_snp.reproduce import build_cnn
from keras_snp.reproduce import reproduce
from keras_snp.reproduce import write_report
from keras_snp.snp import SNPCallback
from keras_snp.snp import SNPResult
from keras_snp.snp import compute_snp
from keras_snp.utils import UsageError

__version__ = "0.1.0"

__all__ = [
    "ANDCPrune", "CCTConfig", "SNPCallback", "SNPResult", "UsageError",
    "VARIANTS", "analyze_heads", "build_cct", "build_cnn", "compute_snp",
    "data", "heads", "list_variants", "models", "pruning", "reproduce",
    "snp", "write_heads_report", "write_report",
]
