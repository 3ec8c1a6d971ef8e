"""TensorBoard writing for every stage: scalars, text, images, histograms.

TensorFlow is imported lazily, so importing this module works without it.
Without TensorFlow (the JAX-only install) every write is skipped, with one
warning saying how to get TensorBoard output; the files of the run folder
do not depend on it.
"""

import contextlib
import functools
import io
import logging
import os

import numpy as np

logger = logging.getLogger(__name__)


def _tf():
    import tensorflow as tf

    return tf


@functools.lru_cache(maxsize=1)
def available():
    """Whether TensorFlow (hence TensorBoard writing) is importable."""
    try:
        _tf()
    except ImportError:
        logger.warning(
            "TensorFlow is not installed: TensorBoard logs are "
            "skipped (pip install tensorflow to get them)."
        )
        return False
    return True


def _needs_tensorflow(function):
    @functools.wraps(function)
    def write(*args, **kwargs):
        if available():
            return function(*args, **kwargs)
        return None

    return write


_WRITERS = {}


def _writer(log_dir):
    log_dir = os.fspath(log_dir)
    if log_dir not in _WRITERS:
        _WRITERS[log_dir] = _tf().summary.create_file_writer(log_dir)
    return _WRITERS[log_dir]


@contextlib.contextmanager
def _summaries(log_dir):
    """`tf.summary`, writing into `log_dir`; the writer is flushed after."""
    writer = _writer(log_dir)
    with writer.as_default():
        yield _tf().summary
    writer.flush()


@_needs_tensorflow
def write_scalars(log_dir, scalars, step=0):
    """Writes `{tag: number}` as scalars at `step`."""
    with _summaries(log_dir) as summary:
        for tag, value in scalars.items():
            if value is None or not np.isfinite(float(value)):
                continue
            summary.scalar(tag, float(value), step=step)


@_needs_tensorflow
def write_text(log_dir, tag, markdown, step=0):
    """Writes a markdown text summary."""
    with _summaries(log_dir) as summary:
        summary.text(tag, markdown, step=step)


@_needs_tensorflow
def write_histograms(log_dir, histograms, step=0):
    """Writes `{tag: array}` as histograms."""
    with _summaries(log_dir) as summary:
        for tag, values in histograms.items():
            summary.histogram(tag, np.asarray(values), step=step)


@_needs_tensorflow
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
    with _summaries(log_dir) as summary:
        summary.image(tag, np.asarray(image)[None], step=step)


def escape_cell(value):
    """A markdown table cell: `|` escaped, newlines as spaces."""
    return (
        str(value).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")
    )


def markdown_table(header, rows):
    """A markdown table with every cell escaped (`|` in `|w|` would
    otherwise end the cell)."""
    lines = [
        "| " + " | ".join(escape_cell(h) for h in header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines += [
        "| " + " | ".join(escape_cell(c) for c in row) + " |" for row in rows
    ]
    return "\n".join(lines)


def pyplot():
    """matplotlib's pyplot on the Agg backend, or None when absent."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


def write_figure(log_dir, tag, figure, step=0):
    """Writes a matplotlib figure as an image, then closes it."""
    if figure is None:
        return
    write_image(log_dir, tag, figure, step)
    pyplot().close(figure)


def encoder_figure(series, title, ylabel, xlabel="encoder"):
    """A line plot over encoders (integer ticks): `series` maps a line's
    name to `[(encoder, value), ...]`. None without matplotlib."""
    plt = pyplot()
    if plt is None or not series:
        return None
    fig, ax = plt.subplots(figsize=(5.2, 3.4), dpi=100)
    ticks = set()
    for name, points in sorted(series.items()):
        points = [(x, y) for x, y in points if y is not None and np.isfinite(y)]
        if points:
            x, y = zip(*points)
            ax.plot(x, y, marker="o", label=name)
            ticks.update(x)
    ax.set_xticks(sorted(ticks))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if len(series) > 1:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def close_all():
    """Flushes and closes every open writer (call at the end of a run)."""
    while _WRITERS:
        _WRITERS.popitem()[1].close()
