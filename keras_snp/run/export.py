"""Exports a model as `model.keras` and a TF SavedModel, atomically.

The SavedModel has one endpoint, `serve`: float32 images
`(None, H, W, 3)` in 0..255 -> float32 logits `(None, K)` (not
probabilities; apply a softmax for those). Writing the SavedModel needs
TensorFlow; under JAX without it only `model.keras` is written.
"""

import logging
import os
import zipfile

import keras
import numpy as np

from keras_snp.utils import UsageError
from keras_snp.utils import atomic_path
from keras_snp.utils import tensorflow_available

logger = logging.getLogger(__name__)


def save_keras(model, path):
    """Saves `model` to a `.keras` file atomically."""
    with atomic_path(path) as tmp:
        model.save(tmp)


def export_saved_model(model, directory):
    """Writes a TF SavedModel with a `serve` endpoint, atomically."""
    if not tensorflow_available():
        raise UsageError(
            "Writing a SavedModel needs TensorFlow: pip install tensorflow."
        )
    with atomic_path(directory) as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)


def export_model(model, directory, saved_model=True):
    """Writes `directory/model.keras` and `directory/saved_model/`.

    Returns the paths written.
    """
    os.makedirs(directory, exist_ok=True)
    paths = {"keras": os.path.join(directory, "model.keras")}
    save_keras(model, paths["keras"])
    if saved_model and tensorflow_available():
        paths["saved_model"] = os.path.join(directory, "saved_model")
        export_saved_model(model, paths["saved_model"])
    elif saved_model:
        logger.warning("TensorFlow is not installed: no SavedModel written.")
    return paths


def load_model(path, safe_mode=True):
    """Loads a `.keras` file written by keras_snp with a one-line error.

    Raises `UsageError` for a missing, corrupt or truncated file, and for
    a file that needs `safe_mode=False` (pass --unsafe to allow it).
    """
    import keras_snp  # noqa: F401  (registers the custom layers)

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise UsageError(f"No model file at {path}: give a .keras file.")
    if path.endswith(".keras") and not zipfile.is_zipfile(path):
        raise UsageError(
            f"{path} is corrupt or truncated (not a whole .keras zip "
            "archive): re-export it or give another file."
        )
    try:
        return keras.models.load_model(path, safe_mode=safe_mode)
    except ValueError as error:
        if "safe_mode" in str(error) or "unsafe" in str(error).lower():
            raise UsageError(
                f"{path} holds code that loads only with safe_mode=False: "
                "pass --unsafe if you trust its author."
            ) from error
        raise UsageError(
            f"{path} is not a readable .keras model ({_first_line(error)}): "
            "re-export it or give another file."
        ) from error
    except Exception as error:  # zip, h5 and json errors of a corrupt file
        raise UsageError(
            f"{path} is corrupt or truncated ({type(error).__name__}): "
            "re-export it or give another file."
        ) from error


def _first_line(error):
    return str(error).strip().splitlines()[0][:160] if str(error) else ""


def max_output_difference(model, exported_dir, images):
    """Max abs difference between `model` and a SavedModel's `serve`."""
    import tensorflow as tf

    loaded = tf.saved_model.load(exported_dir)  # keep alive: owns variables
    served = loaded.serve(tf.constant(images, tf.float32))
    expected = model.predict(images, verbose=0)
    return float(np.max(np.abs(np.asarray(served) - expected)))
