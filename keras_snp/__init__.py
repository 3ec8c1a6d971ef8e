"""keras_snp: train Compact Convolutional Transformers, read them node by node.

Importing the package registers every custom layer, so saved models load
with `keras.models.load_model` (safe mode). TensorFlow is imported only by
the data, strategy, export and TensorBoard code that needs it, so the
package imports and runs under `KERAS_BACKEND=jax` without TensorFlow.

The package itself is light: the public names below are imported on first
use (PEP 562), so the command line answers `--help` and bad flags before
Keras starts. The custom layers are registered as soon as Keras is
imported, whichever of `keras` and `keras_snp` comes first.

Example:
```python
import keras_snp

model = keras_snp.build_cct("cct_7_3x1", num_classes=100, image_size=32)
splits = keras_snp.data.load("cifar100", image_size=32, batch_size=128)
```
"""

import importlib
import sys
import threading
import warnings

__version__ = "0.1.0"

# Public name -> the module that defines it.
_EXPORTS = {
    "analyze": "keras_snp.heads.analyze",
    "analyze_heads": "keras_snp.heads",
    "write_heads_report": "keras_snp.heads",
    "VARIANTS": "keras_snp.models",
    "CCTConfig": "keras_snp.models",
    "build_cct": "keras_snp.models",
    "list_variants": "keras_snp.models",
    "ANDCPrune": "keras_snp.pruning",
    "prune": "keras_snp.pruning.any_model",
    "build_cnn": "keras_snp.reproduce",
    "write_report": "keras_snp.reproduce",
    "SNPCallback": "keras_snp.snp",
    "SNPResult": "keras_snp.snp",
    "compute_snp": "keras_snp.snp",
    "ablate": "keras_snp.sites",
    "find_sites": "keras_snp.sites",
    "run_with_cache": "keras_snp.sites",
    "UsageError": "keras_snp.utils",
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

# The packages whose import registers Keras serializables: importing them
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


def __getattr__(name):
    if name in _SUBPACKAGES:
        return importlib.import_module(f"keras_snp.{name}")
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_snp' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *__all__])


def register_serializables():
    """Imports every package that registers a Keras serializable."""
    for module in REGISTERING:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:  # a package of this tree is optional
                raise


class _KerasImportHook:
    """Runs `register_serializables` once Keras is imported.

    A meta-path finder that wraps the `exec_module` of `keras` and of
    every `keras_snp` sub-module: registration runs when the outermost of
    those imports has finished, so a Keras import nested inside a
    keras_snp module never sees a half-built keras_snp package.
    """

    def __init__(self):
        self._depth = 0
        self._pending = False
        self._lock = threading.RLock()

    def find_spec(self, name, path=None, target=None):
        if name != "keras" and not name.startswith("keras_snp."):
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(name, path, target)
            if spec is not None:
                break
        else:
            return None
        loader = spec.loader
        if loader is None or not hasattr(loader, "exec_module"):
            return spec
        run = loader.exec_module

        def exec_module(module):
            with self._lock:
                self._depth += 1
                try:
                    run(module)
                finally:
                    self._depth -= 1
                if name == "keras":
                    self._pending = True
                if self._pending and self._depth == 0:
                    self._pending = False
                    self._register()

        loader.exec_module = exec_module
        return spec

    def _register(self):
        self.remove()
        try:
            register_serializables()
        except Exception as error:  # noqa: BLE001 (never break `import keras`)
            warnings.warn(
                f"keras_snp could not register its layers ({error}); "
                "`import keras_snp.models` before loading a saved model.",
                stacklevel=2,
            )

    def remove(self):
        if self in sys.meta_path:
            sys.meta_path.remove(self)


if "keras" in sys.modules:
    register_serializables()
else:
    sys.meta_path.insert(0, _KerasImportHook())
