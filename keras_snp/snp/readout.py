"""Bias-free linear readouts on frozen taps, all trained in one pass.

METHOD.md section 2 step 2. The backbone is a frozen copy of the model run
in inference mode; one forward pass per batch feeds every tap's readout.
Backend-agnostic: Keras layers and `keras.ops`, augmentation in numpy.
"""

import logging

import keras
import numpy as np
from keras import ops

from keras_snp.settings import ReadoutConfig  # noqa: F401 (re-export)
from keras_snp.snp.fields import readout_input
from keras_snp.snp.optimizer import CoupledSGD

logger = logging.getLogger(__name__)


def node_factors(layer, name, nodes):
    """A non-trainable `(nodes,)` weight of `layer`, all ones: a per-node
    factor that is set, not trained (a readout's scale, a head mask)."""
    return layer.add_weight(
        name=name, shape=(nodes,), initializer="ones", trainable=False
    )


class LinearReadout(keras.layers.Layer):
    """Bias-free linear map from a (scaled) tap to K logits.

    Args:
        num_classes: K.
        tokens: tokens (positions) of the tap.
        nodes: nodes of the tap.
        pooled: mean over tokens first (kernel `(1, nodes, K)`).

    Call arguments:
        activations: `(B, tokens, nodes)` or `(B, H, W, nodes)`.

    Returns:
        `(B, K)` float32 logits.
    """

    def __init__(self, num_classes, tokens, nodes, pooled=False, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = int(num_classes)
        self.tokens = int(tokens)
        self.nodes = int(nodes)
        self.pooled = bool(pooled)

    def build(self, input_shape):
        rows = 1 if self.pooled else self.tokens
        self.kernel = self.add_weight(
            name="kernel",
            shape=(rows * self.nodes, self.num_classes),
            initializer="zeros",
        )
        self.scale = node_factors(self, "scale", self.nodes)

    def call(self, activations):
        x = readout_input(activations, self.scale, self.pooled)
        x = ops.reshape(x, (-1, x.shape[1] * self.nodes))
        return ops.matmul(x, self.kernel)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_classes)

    def get_config(self):
        return {
            **super().get_config(),
            "num_classes": self.num_classes,
            "tokens": self.tokens,
            "nodes": self.nodes,
            "pooled": self.pooled,
        }

    @property
    def W(self):
        """`(K, tokens, nodes)` numpy readout weights (tokens 1 if pooled)."""
        kernel = ops.convert_to_numpy(self.kernel)
        kernel = kernel.reshape(-1, self.nodes, self.num_classes)
        return np.ascontiguousarray(kernel.transpose(2, 0, 1))


class FrozenForward(keras.layers.Layer):
    """Runs a (frozen) model in inference mode, whatever the outer mode."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.model.trainable = False
        self.trainable = False

    def call(self, images):
        return self.model([images], training=False)


def frozen_copy(model):
    """A non-trainable clone of `model` holding the same weight values."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    copy.trainable = False
    return copy


def int_labels(labels):
    """Int `(B,)` labels from one-hot `(B, K)` or int `(B,)`."""
    labels = np.asarray(labels)
    return labels.argmax(-1) if labels.ndim == 2 else labels.astype("int64")


def rebatch(batches, batch_size):
    """Re-cuts a stream of `(images, labels)` batches to `batch_size`."""
    if batch_size is None:
        for images, labels in batches:
            yield np.asarray(images, "float32"), int_labels(labels)
        return
    buf_x, buf_y, held = [], [], 0
    for images, labels in batches:
        buf_x.append(np.asarray(images, "float32"))
        buf_y.append(int_labels(labels))
        held += len(buf_y[-1])
        while held >= batch_size:
            x, y = np.concatenate(buf_x), np.concatenate(buf_y)
            yield x[:batch_size], y[:batch_size]
            buf_x, buf_y, held = (
                [x[batch_size:]],
                [y[batch_size:]],
                held - batch_size,
            )
    if held:
        yield np.concatenate(buf_x), np.concatenate(buf_y)


def augment(images, rng, flip=True, shift=4):
    """Random horizontal flip and integer shift (zero padding), numpy."""
    out = images.copy()
    if flip:
        flips = rng.random(len(out)) < 0.5
        out[flips] = out[flips, :, ::-1]
    if shift:
        h, w = out.shape[1:3]
        padded = np.pad(out, ((0, 0), (shift, shift), (shift, shift), (0, 0)))
        dy, dx = rng.integers(0, 2 * shift + 1, size=(2, len(out)))
        for i in range(len(out)):
            out[i] = padded[i, dy[i] : dy[i] + h, dx[i] : dx[i] + w]
    return out


def node_rms(features_fn, batches, max_batches):
    """Per-tap `(n,)` RMS of every node over tokens and images."""
    sums, count = None, 0
    for step, (images, _) in enumerate(batches):
        if step >= max_batches:
            break
        feats = features_fn(images)
        squares = [
            ops.convert_to_numpy(
                ops.sum(
                    ops.square(
                        ops.reshape(ops.cast(f, "float32"), (-1, f.shape[-1]))
                    ),
                    axis=0,
                )
            )
            for f in feats
        ]
        rows = [int(np.prod(f.shape[:-1])) for f in feats]
        sums = (
            squares if sums is None else [a + b for a, b in zip(sums, squares)]
        )
        count = rows if count == 0 else [a + b for a, b in zip(count, rows)]
    if sums is None:
        raise ValueError("`train_data` yielded no batch.")
    return [np.sqrt(s / c) for s, c in zip(sums, count)]


def make_optimizer(config):
    """The readout optimizer of a `ReadoutConfig`: Nesterov SGD whose
    weight decay is coupled (`CoupledSGD`, the default) or decoupled
    (Keras `SGD`). `compute_snp` decays its learning rate per epoch.

    Example:
    >>> type(make_optimizer(ReadoutConfig())).__name__
    'CoupledSGD'
    """
    if config.weight_decay_mode == "coupled":
        return CoupledSGD(
            learning_rate=config.learning_rate,
            momentum=config.momentum,
            nesterov=config.momentum > 0,
            l2=config.weight_decay,
        )
    return keras.optimizers.SGD(
        learning_rate=config.learning_rate,
        momentum=config.momentum,
        nesterov=config.momentum > 0,
        weight_decay=config.weight_decay or None,
    )
