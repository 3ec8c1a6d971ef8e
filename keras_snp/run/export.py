"""Exports a model as `model.keras` and a TF SavedModel, atomically.

The SavedModel has one endpoint, `serve`: float32 images
`(None, H, W, 3)` in 0..255 -> float32 logits `(None, K)` (not
probabilities; apply a softmax for those). Writing the SavedModel needs
TensorFlow; under JAX without it only `model.keras` is written.

`compress=True` writes the `.keras` zip with deflate (a pruned model's
zeros then cost almost nothing on disk); plain `keras.models.load_model`
reads it. `model_sizes` reports raw and deflate-compressed sizes of a
`.keras` file and a SavedModel, the way the TensorFlow Model Optimization
guides compare pruned and unpruned models (size of a zip of the files).
"""

import io
import json
import logging
import os
import zipfile

import keras
import numpy as np
from packaging.version import Version

from keras_snp.utils import UsageError
from keras_snp.utils import atomic_path
from keras_snp.utils import check_free_space
from keras_snp.utils import tensorflow_available
from keras_snp.utils import weights_bytes

logger = logging.getLogger(__name__)


def save_keras(model, path, compress=False):
    """Saves `model` to a `.keras` file atomically.

    Args:
        model: a Keras model.
        path: the `.keras` file to write.
        compress: rewrite the zip with deflate (Keras stores its members
            uncompressed); the file still loads with
            `keras.models.load_model`.
    """
    check_free_space(
        os.path.dirname(os.path.abspath(path)),
        weights_bytes(model),
        f"saving {os.path.basename(path)}",
    )
    with atomic_path(path) as tmp:
        model.save(tmp)
        if compress:
            deflate_zip(tmp)


def deflate_zip(path):
    """Rewrites the zip archive at `path` with every member deflated."""
    packed = path + ".deflate"
    with (
        zipfile.ZipFile(path) as src,
        zipfile.ZipFile(
            packed, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
        ) as dst,
    ):
        for info in src.infolist():
            dst.writestr(info.filename, src.read(info.filename))
    os.replace(packed, path)


def deflated_size(path):
    """Bytes of a deflate zip (level 9) of a file or a folder's files.

    Example:
    ```python
    deflated_size("saved_models/run/pruned/saved_model")
    ```
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(
        buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9
    ) as zf:
        for file, name in _files(path):
            zf.write(file, name)
    return buffer.getbuffer().nbytes


def _files(path):
    if os.path.isfile(path):
        yield path, os.path.basename(path)
        return
    for root, _, names in sorted(os.walk(path)):
        for name in sorted(names):
            full = os.path.join(root, name)
            yield full, os.path.relpath(full, path)


def model_sizes(directory):
    """Raw and deflated sizes of `model.keras` and `saved_model/` in
    `directory`, in bytes (entries missing when the file is absent)."""
    sizes = {}
    keras_path = os.path.join(directory, "model.keras")
    if os.path.isfile(keras_path):
        sizes["keras_bytes"] = os.path.getsize(keras_path)
        sizes["keras_deflated_bytes"] = deflated_size(keras_path)
    saved = os.path.join(directory, "saved_model")
    if os.path.isdir(saved):
        sizes["saved_model_bytes"] = sum(
            os.path.getsize(f) for f, _ in _files(saved)
        )
        sizes["saved_model_deflated_bytes"] = deflated_size(saved)
    return sizes


def export_saved_model(model, directory):
    """Writes a TF SavedModel with a `serve` endpoint, atomically."""
    if not tensorflow_available():
        raise UsageError(
            "Writing a SavedModel needs TensorFlow: pip install tensorflow."
        )
    with atomic_path(directory) as tmp:
        model.export(tmp, format="tf_saved_model", verbose=False)


def export_model(model, directory, saved_model=True, compress=False):
    """Writes `directory/model.keras` and `directory/saved_model/`.

    `compress` deflates the `.keras` zip (see `save_keras`). Returns the
    paths written.
    """
    os.makedirs(directory, exist_ok=True)
    paths = {"keras": os.path.join(directory, "model.keras")}
    save_keras(model, paths["keras"], compress=compress)
    if saved_model and tensorflow_available():
        paths["saved_model"] = os.path.join(directory, "saved_model")
        check_free_space(
            directory, 2 * weights_bytes(model), "the SavedModel export"
        )
        export_saved_model(model, paths["saved_model"])
    elif saved_model:
        logger.warning("TensorFlow is not installed: no SavedModel written.")
    return paths


def load_model(path, safe_mode=True):
    """Loads a `.keras` file written by keras_snp with a one-line error.

    Raises `UsageError` for a missing, corrupt or truncated file, and for
    a file that needs `safe_mode=False` (pass --unsafe to allow it).
    """
    import keras_snp

    keras_snp.register_serializables()  # also where the entry deferred it

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
    except Exception as error:
        newer = saved_with_newer_keras(path)
        if newer is None:
            raise _load_error(path, error) from error
        raise UsageError(
            f"{path} was saved with Keras {newer}, which this Keras "
            f"{keras.__version__} cannot read: upgrade it (pip install -U "
            f"'keras>={newer}')."
        ) from error


def saved_with_newer_keras(path):
    """The Keras version a `.keras` file was saved with (its
    `metadata.json`) when newer than the running one, else None."""
    try:
        with zipfile.ZipFile(path) as archive:
            saved = json.loads(archive.read("metadata.json"))["keras_version"]
        newer = Version(saved) > Version(keras.__version__)
    except Exception:  # noqa: BLE001 (no or odd metadata: no comparison)
        return None
    return saved if newer else None


def _load_error(path, error):
    """The one-line error of a `.keras` file Keras could not load."""
    if isinstance(error, ValueError):
        if "safe_mode" in str(error) or "unsafe" in str(error).lower():
            return UsageError(
                f"{path} holds code that loads only with safe_mode=False: "
                "pass --unsafe if you trust its author."
            )
        return UsageError(
            f"{path} is not a readable .keras model ({_first_line(error)}): "
            "re-export it or give another file."
        )
    # zip, h5 and json errors of a corrupt file
    return UsageError(
        f"{path} is corrupt or truncated ({type(error).__name__}): "
        "re-export it or give another file."
    )


def _first_line(error):
    return str(error).strip().splitlines()[0][:160] if str(error) else ""


def max_output_difference(model, exported_dir, images):
    """Max abs difference between `model` and a SavedModel's `serve`."""
    import tensorflow as tf

    loaded = tf.saved_model.load(exported_dir)  # keep alive: owns variables
    served = loaded.serve(tf.constant(images, tf.float32))
    expected = model.predict(images, verbose=0)
    return float(np.max(np.abs(np.asarray(served) - expected)))
