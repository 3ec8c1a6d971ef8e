"""keras_snp: train Compact Convolutional Transformers, read them node by node.

`import keras_snp` registers every Keras serializable of the package (the
CCT's layers, the `ANDCPrune` wrapper, the augmentation and optimizer
objects; see `REGISTERING`), so a saved keras_snp model loads with
`keras.models.load_model` in safe mode, as `import keras_hub` does for
keras-hub: import `keras_snp` before loading, in either order with
`keras`. The registration imports Keras; TensorFlow is imported only by
the data, strategy, export and TensorBoard code that needs it, so the
package imports and runs under `KERAS_BACKEND=jax` without TensorFlow.

The public names below load on first use (PEP 562, through
`keras_snp.utils.lazy_exports`, as every package of keras_snp does).
With `KERAS_SNP_DEFER_REGISTRATION=1` in the environment, `import
keras_snp` imports no Keras and registers nothing until
`keras_snp.register_serializables()` is called: the command line's entry
(`keras_snp_entry`) imports the package that way, so `--help` and bad
flags answer before Keras starts, and registers once a command runs.
Nothing is installed in Python's import machinery.

Example:
```python
import keras
import keras_snp

model = keras_snp.build_cct("cct_7_3x1", num_classes=100, image_size=32)
splits = keras_snp.data.load("cifar100", image_size=32, batch_size=128)
model.save("cct.keras")
keras.models.load_model("cct.keras")  # safe mode: the layers are known
```
"""

import importlib
import os

from keras_snp.utils import lazy_exports

__version__ = "0.1.0"

#: Set to "1", `import keras_snp` leaves registration to an explicit
#: `register_serializables()` call (the command line's entry does).
DEFER_REGISTRATION = "KERAS_SNP_DEFER_REGISTRATION"

# Public name -> the module, relative to keras_snp, that defines it.
_EXPORTS = {
    "analyze": "heads.analyze",
    "analyze_heads": "heads",
    "write_heads_report": "heads",
    "VARIANTS": "models",
    "CCTConfig": "models",
    "build_cct": "models",
    "list_variants": "models",
    "ANDCPrune": "pruning",
    "prune": "pruning.any_model",
    "build_cnn": "reproduce",
    "write_report": "reproduce",
    "SNPCallback": "snp",
    "SNPResult": "snp",
    "compute_snp": "snp",
    "ablate": "sites",
    "find_sites": "sites",
    "run_with_cache": "sites",
    "UsageError": "utils",
}
_SUBPACKAGES = (
    "data",
    "heads",
    "models",
    "pruning",
    "reproduce",
    "sites",
    "snp",
)

# The modules whose import registers Keras serializables: importing them
# is what lets `keras.models.load_model` rebuild a keras_snp model.
# `tests/cli/imports_test.py` checks that no registering module is missing.
REGISTERING = (
    "keras_snp.models.layers",
    "keras_snp.models.attention",
    "keras_snp.models.initializers",
    "keras_snp.snp.optimizer",
    "keras_snp.heads.ablation",
    "keras_snp.pruning.wrapper",
    "keras_snp.training.augment.official",
    "keras_snp.training.augmented",
)

__all__ = [
    "VARIANTS",
    "ablate",
    "analyze",
    "find_sites",
    "prune",
    "register_serializables",
    "run_with_cache",
    "sites",
    "ANDCPrune",
    "CCTConfig",
    "SNPCallback",
    "SNPResult",
    "UsageError",
    "analyze_heads",
    "build_cct",
    "build_cnn",
    "compute_snp",
    "data",
    "heads",
    "list_variants",
    "models",
    "pruning",
    "reproduce",
    "snp",
    "write_heads_report",
    "write_report",
]

__getattr__, __dir__ = lazy_exports(
    __name__, _EXPORTS, __all__, submodules=_SUBPACKAGES
)


def register_serializables():
    """Registers every Keras serializable of keras_snp (idempotent).

    `import keras_snp` calls it, unless `KERAS_SNP_DEFER_REGISTRATION=1`;
    call it yourself in that case, before `keras.models.load_model`.

    Example:
    ```python
    keras_snp.register_serializables()
    model = keras.models.load_model("model.keras")
    ```
    """
    for module in REGISTERING:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:  # a package of this tree is optional
                raise


if os.environ.get(DEFER_REGISTRATION) != "1":
    register_serializables()
