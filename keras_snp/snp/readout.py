"""Bias-free linear readouts on frozen taps, all trained in one pass.

METHOD.md section 2 step 2. The backbone is a frozen copy of the model run
in inference mode; one forward pass per batch feeds every tap's readout.
Backend-agnostic: Keras layers and `keras.ops`, augmentation in numpy.
"""

import dataclasses
import logging

import keras
import numpy as np
from keras import ops

from keras_snp.snp.fields import readout_input
from keras_snp.snp.optimizer import CoupledSGD
from keras_snp.utils import check_at_least
from keras_snp.utils import check_one_of

logger = logging.getLogger(__name__)
READOUTS = ("flatten", "pooled")
WEIGHT_DECAY_MODES = ("coupled", "decoupled")


SOLVERS = ("lbfgs", "stream", "lab")
CACHE_DTYPES = ("float16", "float32")
DEFAULT_VIEWS = 2


@dataclasses.dataclass(frozen=True)
class ReadoutConfig:
    """How the readouts are trained (METHOD.md section 2).

    Attributes:
        readout: `"flatten"` (tokens x nodes -> K) or `"pooled"` (mean over
            tokens, nodes -> K).
        solver: `"lbfgs"` (default): the frozen model runs forward once per
            augmented view, the features are cached and each readout is
            solved to its optimum by whitened L-BFGS
            (`keras_snp.snp.solver`), with its convergence measured.
            `"stream"`: the expectation over the augmentation, by
            warm-started L-BFGS steps on fresh views with averaging,
            converged on a held-out view (`keras_snp.snp.stream`).
            `"lab"`: the lab's protocol, streaming Nesterov SGD for
            `epochs` epochs with fresh augmentation every epoch.
        views: augmented views of the training split cached for `"lbfgs"`.
        stream_views: most fresh views `"stream"` takes per readout.
        stream_passes: L-BFGS passes per fresh view (`"stream"`).
        stream_tolerance: `"stream"` is converged when the held-out
            objective of the averaged readout changed by at most this
            fraction over its last 5 views.
        tolerance: `"lbfgs"` is converged when the whitened gradient norm
            is at most this fraction of its value at zero weights.
        max_passes: objective evaluations allowed per readout (`"lbfgs"`);
            a readout that needs more is reported as not converged.
        cache_dtype: `"float16"` (default) or `"float32"` feature cache.
        cache_memory_gb: cache held in memory up to this size, then spilled
            to files (removed afterwards); also the most a tap's solve
            holds as float32 (beyond it, float16 blocks cast per pass).
        epochs: passes over the training split (`"lab"`).
        learning_rate: initial SGD learning rate (`"lab"`).
        lr_decay: learning-rate factor applied after every epoch (`"lab"`).
        momentum: SGD momentum (Nesterov, `"lab"`).
        weight_decay: the L2 strength: the objective's `weight_decay / 2 *
            ||W||^2` for `"lbfgs"`; for `"lab"` applied as
            `weight_decay_mode` says.
        weight_decay_mode: `"coupled"` (default, the lab's: PyTorch SGD's
            L2, `weight_decay * w` added to the gradient before Nesterov
            momentum, `CoupledSGD`) or `"decoupled"` (Keras `SGD`'s
            `weight_decay`; about `1 / (1 - momentum)` times weaker).
        batch_size: images per frozen forward and per SGD step (input
            batches are re-cut to this size; None keeps them as given).
        flip: random horizontal flips of the training images.
        shift: random shifts of up to this many pixels (zero padding).
        scale: `"lab"` only: `"rms"` multiplies each node's activations by
            1 / (its RMS over `scale_batches` training batches) before the
            readout, which changes the L2 optimum (METHOD.md); None (the
            lab's): no scaling.
        scale_batches: batches used to measure the scale.
        seed: seed of the augmentation.
    """

    readout: str = "flatten"
    solver: str = "lbfgs"
    views: int = DEFAULT_VIEWS
    stream_views: int = 60
    stream_passes: int = 2
    stream_tolerance: float = 1e-3
    tolerance: float = 1e-4
    max_passes: int = 1000
    cache_dtype: str = "float16"
    cache_memory_gb: float = 3.0
    epochs: int = 200
    learning_rate: float = 0.01
    lr_decay: float = 0.975
    momentum: float = 0.975
    weight_decay: float = 1e-3
    weight_decay_mode: str = "coupled"
    batch_size: int | None = 100
    flip: bool = True
    shift: int = 4
    scale: str | None = None
    scale_batches: int = 10
    seed: int = 0

    def validate(self):
        check_one_of("readout", self.readout, READOUTS)
        check_one_of("solver", self.solver, SOLVERS)
        check_at_least("views", self.views, 1)
        check_at_least("stream_views", self.stream_views, 1)
        check_at_least("stream_passes", self.stream_passes, 1)
        check_at_least("stream_tolerance", self.stream_tolerance, 0)
        check_at_least("tolerance", self.tolerance, 0)
        check_at_least("max_passes", self.max_passes, 1)
        check_one_of("cache_dtype", self.cache_dtype, CACHE_DTYPES)
        check_at_least("cache_memory_gb", self.cache_memory_gb, 0)
        check_at_least("epochs", self.epochs, 0)
        check_at_least("batch_size", self.batch_size, 1, none_ok=True)
        check_one_of(
            "weight_decay_mode", self.weight_decay_mode, WEIGHT_DECAY_MODES
        )
        check_at_least("weight_decay", self.weight_decay, 0)
        check_one_of("scale", self.scale, ("rms", None))
        if self.scale is not None and self.solver != "lab":
            raise ValueError(
                "`scale` applies to solver='lab' only: the L-BFGS solver "
                "solves the unscaled problem (its whitening is the "
                f"preconditioner). Received: scale={self.scale!r}, "
                f"solver={self.solver!r}"
            )
        check_at_least("shift", self.shift, 0)
        check_at_least("scale_batches", self.scale_batches, 1)
        return self

    def solver_config(self):
        """The `SolverConfig` of the `"lbfgs"` solver."""
        from keras_snp.snp.solver import SolverConfig

        return SolverConfig(
            tolerance=self.tolerance, max_passes=self.max_passes
        )

    @property
    def cache_bytes(self):
        return int(self.cache_memory_gb * (1 << 30))


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
