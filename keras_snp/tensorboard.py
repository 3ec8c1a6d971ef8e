"""TensorBoard writing for every stage: scalars, text, images, histograms.

TensorFlow is imported lazily, so importing this module works without it;
writing fails with a clear message when TensorFlow is absent.
"""

import io
import os

import numpy as np

from keras_snp.utils import UsageError


def _tf():
    try:
        import tensorflow as tf
    except ImportError as error:
        raise UsageError(
            "TensorBoard logging needs TensorFlow: pip install tensorflow "
            "(or tensorflow-cpu), or run without TensorBoard output."
        ) from error
    return tf


_WRITERS = {}


def _writer(log_dir):
    log_dir = os.fspath(log_dir)
    if log_dir not in _WRITERS:
        _WRITERS[log_dir] = _tf().summary.create_file_writer(log_dir)
    return _WRITERS[log_dir]


def write_scalars(log_dir, scalars, step=0):
    """Writes `{tag: number}` as scalars at `step`."""
    tf = _tf()
    writer = _writer(os.fspath(log_dir))
    with writer.as_default():
        for tag, value in scalars.items():
            if value is None or not np.isfinite(float(value)):
                continue
            tf.summary.scalar(tag, float(value), step=step)
    writer.flush()


def write_text(log_dir, tag, markdown, step=0):
    """Writes a markdown text summary."""
    tf = _tf()
    writer = _writer(os.fspath(log_dir))
    with writer.as_default():
        tf.summary.text(tag, markdown, step=step)
    writer.flush()


def write_histograms(log_dir, histograms, step=0):
    """Writes `{tag: array}` as histograms."""
    tf = _tf()
    writer = _writer(os.fspath(log_dir))
    with writer.as_default():
        for tag, values in histograms.items():
            tf.summary.histogram(tag, np.asarray(values), step=step)
    writer.flush()


def write_image(log_dir, tag, image, step=0):
    """Writes an image: a PNG file path, PNG bytes, a matplotlib figure, or
    an `(H, W, C)` uint8 array."""
    tf = _tf()
    if hasattr(image, "savefig"):
        buffer = io.BytesIO()
        image.savefig(buffer, format="png")
        image = buffer.getvalue()
    elif isinstance(image, (str, os.PathLike)):
        with open(image, "rb") as f:
            image = f.read()
    if isinstance(image, bytes):
        image = tf.io.decode_png(image, channels=4).numpy()
    image = np.asarray(image)
    writer = _writer(os.fspath(log_dir))
    with writer.as_default():
        tf.summary.image(tag, image[None], step=step)
    writer.flush()


def close_all():
    """Flushes and closes every open writer (call at the end of a run)."""
    while _WRITERS:
        _WRITERS.popitem()[1].close()
