"""Measurements of heads inside the real model: head-only accuracy and the
causal check (silencing one head), with `keras.ops` only.

The ablation never touches the model: it runs through
`keras_snp.sites.AblationModel`, which shares the model's layers and masks
the heads' nodes at their sites (a top-level layer's output, or the
per-head input of a `keras.layers.MultiHeadAttention`'s projection) with
non-trainable weights set to zero on one head's nodes at a time.
"""

import logging

import keras
import numpy as np
from keras import ops

from keras_snp.sites import AblationModel
from keras_snp.sites.hooks import per_label as per_label_accuracy
from keras_snp.snp.fields import group_logits
from keras_snp.snp.readout import int_labels
from keras_snp.snp.readout import node_factors
from keras_snp.snp.taps import resolve_taps
from keras_snp.snp.taps import site_of
from keras_snp.snp.taps import tap_model
from keras_snp.utils import check_at_least

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="keras_snp")
class HeadMask(keras.layers.Layer):
    """Multiplies the last axis by a fixed non-trainable mask.

    Args:
        units: size of the last axis.

    Call arguments:
        inputs: `(..., units)`.

    Returns:
        `inputs * mask`, the mask being all ones until `set_silenced`.

    Example:
    >>> layer = HeadMask(4)
    >>> layer.build((None, 4))
    >>> layer.set_silenced([1, 2])
    >>> keras.ops.convert_to_numpy(layer(np.ones((1, 4)))).tolist()
    [[1.0, 0.0, 0.0, 1.0]]
    """

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        check_at_least("units", units, 1)
        self.units = int(units)

    def build(self, input_shape):
        self.mask = node_factors(self, "mask", self.units)

    def set_silenced(self, nodes):
        """Zeroes the units `nodes` (all others back to one)."""
        mask = np.ones(self.units, dtype="float32")
        mask[np.asarray(nodes, dtype=int)] = 0.0
        self.mask.assign(mask)

    def call(self, inputs):
        return inputs * ops.cast(self.mask, inputs.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def batches(data):
    """Yields `(images, int labels)` numpy pairs from an iterable of
    `(images, labels)` batches, labels one-hot `(B, K)` or int `(B,)`."""
    for batch in data:
        yield np.asarray(batch[0]), int_labels(batch[1])


def reusable(data):
    """`data` if it can be iterated again, else a list of its batches."""
    if iter(data) is data:
        logger.warning(
            "test data is a one-shot iterator: keeping it in "
            "memory to read it several times"
        )
        return list(data)
    return data


def _logits(model, images):
    out = model.predict_on_batch(images)
    if isinstance(out, (list, tuple)):
        out = out[0]
    return ops.convert_to_numpy(out)


def ablation_hits(model, data, tap_heads):
    """Per test image: is the model right, intact and with each head
    silenced?

    Args:
        model: the trained functional model (not modified).
        data: iterable of `(images, labels)` batches (read several times).
        tap_heads: `{tap: [node indices of head 0, of head 1, ...]}`.

    Returns:
        `(labels (N,), base (N,) bool, {tap: (H, N) bool})`.
    """
    data = reusable(data)
    specs = resolve_taps(model, list(tap_heads))
    ablated = AblationModel(model, [site_of(model, spec) for spec in specs])
    labels = []

    def hits():
        correct = []
        labels.clear()
        for images, y in batches(data):
            correct.append(_logits(ablated, images).argmax(axis=-1) == y)
            labels.append(y)
        return np.concatenate(correct)

    base = hits()
    result = {}
    for tap, heads in tap_heads.items():
        rows = []
        for h, nodes in enumerate(heads):
            ablated.silence({tap: nodes})
            rows.append(hits())
            logger.info("silenced %s head %d", tap, h)
        result[tap] = np.stack(rows)
    ablated.silence({})
    return np.concatenate(labels), base, result


def ablation_accuracies(model, data, tap_heads, num_classes):
    """Per-label test accuracy of the model, and with each head silenced.

    Args:
        model: the trained functional model (not modified).
        data: iterable of `(images, labels)` batches (read several times).
        tap_heads: `{tap: [node indices of head 0, of head 1, ...]}`.
        num_classes: K.

    Returns:
        `(base (K,), {tap: (H, K)}, totals (K,))`: per-label accuracies
        and the number of test examples of each label.
    """
    labels, base, hits = ablation_hits(model, data, tap_heads)
    return (
        per_label_accuracy(base, labels, num_classes),
        {
            tap: per_label_accuracy(rows, labels, num_classes)
            for tap, rows in hits.items()
        },
        np.bincount(labels, minlength=num_classes),
    )


def mean_contrast(drops, L):
    """Mean over heads of (mean drop on the head's labels minus mean drop
    on the others), NaN labels left out; `drops (..., H, K)`, `L (H, K)`
    bool; heads with no label on one side are left out."""
    drops = np.asarray(drops, dtype=np.float64)
    L = np.broadcast_to(np.asarray(L, dtype=bool), drops.shape)
    valid = ~np.isnan(drops)

    def side(mask):
        count = (mask & valid).sum(-1)
        total = np.where(mask & valid, drops, 0.0).sum(-1)
        return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    contrast = side(L) - side(~L)
    defined = ~np.isnan(contrast)
    count = defined.sum(-1)
    return np.where(
        count > 0,
        np.where(defined, contrast, 0.0).sum(-1) / np.maximum(count, 1),
        np.nan,
    )


def contrast_interval(labels, base, hits, L, num_classes, draws=1000, seed=0):
    """95 % interval of `mean_contrast` over class-stratified bootstrap
    resamples of the test images (the images are the noise here, not the
    heads): `(low, high)`.

    Args:
        labels: `(N,)` int test labels; base: `(N,)` bool, the intact
            model right; hits: `(H, N)` bool, right with head h silenced.
        L: `(H, K)` bool, the heads' labels.
    """
    rng = np.random.default_rng(seed)
    one_hot = np.eye(num_classes)[labels]  # (N, K)
    members = [np.flatnonzero(labels == c) for c in range(num_classes)]
    values = []
    for start in range(0, draws, 100):
        size = min(100, draws - start)
        weights = np.zeros((size, len(labels)))
        for rows in members:
            if len(rows):
                weights[:, rows] = rng.multinomial(
                    len(rows), np.full(len(rows), 1 / len(rows)), size=size
                )
        seen = weights @ one_hot  # (B, K)

        def accuracy(correct):
            right = (weights * correct) @ one_hot
            return np.divide(
                right, seen, out=np.full(right.shape, np.nan), where=seen > 0
            )

        base_acc = accuracy(base)
        drops = np.stack([base_acc - accuracy(h) for h in hits], axis=1)
        values.append(mean_contrast(drops, L))
    values = np.concatenate(values)
    values = values[~np.isnan(values)]
    if not values.size:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [2.5, 97.5])
    return float(low), float(high)


def head_only_accuracies(model, data, taps, num_classes):
    """Per-label test accuracy of each head's readout alone.

    Head h predicts `argmax_c sum_{d in h} phi_d(x, c)` with
    `phi_d(x, c) = sum_t W[c, t, d] * A(x)[t, d] * scale[d]`.

    Args:
        model: the trained functional model.
        data: iterable of `(images, labels)` batches.
        taps: `TapResult`s of MHA taps, each with `W` (and optional
            `scale`).
        num_classes: K.

    Returns:
        `({tap name: (H, K)}, totals (K,))`: per-label accuracies and the
        number of test examples of each label.
    """
    taps = list(taps)
    reader = tap_model(model, resolve_taps(model, [t.name for t in taps]))
    heads = [
        np.asarray(t.head)[None] == np.arange(max(t.head) + 1)[:, None]
        for t in taps
    ]  # (H, n) node masks
    correct = [[] for _ in taps]
    labels = []
    for images, y in batches(data):
        outputs = reader.predict_on_batch(images)
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        for i, (A, tap) in enumerate(zip(outputs, taps)):
            pred = group_logits(tap, A, heads[i]).argmax(axis=-1)  # (B, H)
            correct[i].append(pred.T == y[None])  # (H, B)
        labels.append(y)
    labels = np.concatenate(labels)
    result = {
        tap.name: per_label_accuracy(
            np.concatenate(c, axis=1), labels, num_classes
        )
        for tap, c in zip(taps, correct)
    }
    return result, np.bincount(labels, minlength=num_classes)
