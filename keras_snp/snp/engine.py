"""`compute_snp`: readouts, fields and statistics of every tap of a model.

METHOD.md section 2. Streaming throughout: one batch of activations is held
at a time, never a whole split.
"""

import logging

import keras
import numpy as np

from keras_snp.snp import clusters
from keras_snp.snp.fields import SNPAccumulator
from keras_snp.snp.readout import FrozenForward
from keras_snp.snp.readout import LinearReadout
from keras_snp.snp.readout import ReadoutConfig
from keras_snp.snp.readout import augment
from keras_snp.snp.readout import frozen_copy
from keras_snp.snp.readout import make_optimizer
from keras_snp.snp.readout import node_rms
from keras_snp.snp.readout import rebatch
from keras_snp.snp.result import SNPResult
from keras_snp.snp.result import TapResult
from keras_snp.snp.taps import resolve_taps
from keras_snp.snp.taps import tap_model

logger = logging.getLogger(__name__)


def _as_list(x):
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _check_reiterable(data, name, passes):
    if passes > 1 and iter(data) is data:
        raise ValueError(
            f"`{name}` is a one-shot iterator but is read {passes} times; "
            "pass a re-iterable (a list of batches or a tf.data.Dataset). "
            f"Received: {name}={type(data).__name__}"
        )


class SNPEngine:
    """The frozen copy, its tap model and one readout per tap.

    Built by `compute_snp`; exposed for tests and benchmarks.

    Args:
        model: a single-input functional or Sequential Keras model.
        specs: `TapSpec`s from `resolve_taps`.
        num_classes: K.
        config: a `ReadoutConfig`.
    """

    def __init__(self, model, specs, num_classes, config):
        if len(model.inputs) != 1:
            raise ValueError(
                "`model` must have exactly one input (images). Received: "
                f"{len(model.inputs)} inputs"
            )
        self.specs = specs
        self.config = config
        self.num_classes = int(num_classes)
        self.frozen = FrozenForward(
            tap_model(frozen_copy(model), specs), name="frozen_taps"
        )
        pooled = config.readout == "pooled"
        self.readouts = [
            LinearReadout(
                num_classes, s.tokens, s.nodes, pooled, name=f"readout_{i}"
            )
            for i, s in enumerate(specs)
        ]
        images = keras.Input(tuple(model.inputs[0].shape[1:]), name="images")
        feats = _as_list(self.frozen(images))
        outputs = [r(f) for r, f in zip(self.readouts, feats)]
        self.trainer = keras.Model(images, outputs, name="snp_readouts")

    def features(self, images):
        """One frozen forward in inference mode: the list of tap outputs."""
        return _as_list(self.frozen(images))

    def set_scale(self, train_data):
        """Measures and sets each node's activation factor (1 / RMS)."""
        cfg = self.config
        if cfg.scale is None:
            return
        batches = rebatch(train_data, cfg.batch_size)
        for readout, rms in zip(
            self.readouts, node_rms(self.features, batches, cfg.scale_batches)
        ):
            readout.scale.assign(
                np.where(rms > 1e-12, 1.0 / np.maximum(rms, 1e-12), 1.0).astype(
                    "float32"
                )
            )

    def train(self, train_data, optimizer=None, run_eagerly=False, verbose=1):
        """Trains every readout in one pass per epoch; returns the losses."""
        cfg = self.config
        custom = optimizer is not None
        optimizer = optimizer or make_optimizer(cfg)
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        self.trainer.compile(
            optimizer=optimizer,
            loss=[loss] * len(self.readouts),
            run_eagerly=run_eagerly,
        )
        rng = np.random.default_rng(cfg.seed)
        history = []
        for epoch in range(cfg.epochs):
            if not custom:
                optimizer.learning_rate = (
                    cfg.learning_rate * cfg.lr_decay**epoch
                )
            bar = (
                keras.utils.Progbar(
                    None, verbose=1 if verbose else 0, unit_name="batch"
                )
                if verbose
                else None
            )
            total, steps = 0.0, 0
            for images, labels in rebatch(train_data, cfg.batch_size):
                images = augment(images, rng, cfg.flip, cfg.shift)
                out = self.trainer.train_on_batch(
                    images, [labels] * len(self.readouts)
                )
                value = float(np.ravel(out)[0])
                total, steps = total + value, steps + 1
                if bar is not None:
                    bar.update(steps, [("loss", value)])
            history.append(total / max(steps, 1))
            if verbose:
                logger.info(
                    "readout epoch %d/%d: summed loss %.4f",
                    epoch + 1,
                    cfg.epochs,
                    history[-1],
                )
        return history

    def measure(self, test_data):
        """Readout accuracy and `V` of every tap, in one pass over the test
        split. Returns `[(accuracy, V, W, scale)]` per tap."""
        cfg = self.config
        weights = [r.W for r in self.readouts]
        scales = [keras.ops.convert_to_numpy(r.scale) for r in self.readouts]
        accs = [
            SNPAccumulator(W, s, cfg.readout == "pooled")
            for W, s in zip(weights, scales)
        ]
        correct = np.zeros(len(self.readouts), "int64")
        seen = 0
        for images, labels in rebatch(test_data, cfg.batch_size):
            if np.max(labels, initial=0) >= self.num_classes:
                raise ValueError(
                    f"A test label is {int(np.max(labels))}, beyond the "
                    f"model's {self.num_classes} outputs."
                )
            for i, f in enumerate(self.features(images)):
                logits = keras.ops.convert_to_numpy(self.readouts[i](f))
                correct[i] += int(np.sum(logits.argmax(-1) == labels))
                accs[i].update(f, labels)
            seen += len(labels)
        if not seen:
            raise ValueError("`test_data` yielded no batch.")
        return [
            (c / seen, a.result(), W, s)
            for c, a, W, s in zip(correct, accs, weights, scales)
        ]


def compute_snp(
    model,
    train_data,
    test_data,
    *,
    taps=None,
    theta=clusters.DEFAULT_THETA,
    readout="flatten",
    epochs=10,
    optimizer=None,
    learning_rate=0.01,
    lr_decay=0.975,
    momentum=0.975,
    weight_decay=1e-3,
    batch_size=100,
    flip=True,
    shift=4,
    seed=0,
    scale="rms",
    scale_batches=10,
    num_classes=None,
    label_names=None,
    run_eagerly=False,
    verbose=1,
):
    """Single-nodal performance of every node of the chosen taps.

    Trains one bias-free readout per tap on a frozen copy of `model` (in
    inference mode; `model` itself is never modified), all taps in one
    forward pass per batch, then accumulates every node's SNP matrix `V` on
    the test split (METHOD.md section 2).

    Args:
        model: a trained single-input Keras model (functional/Sequential).
        train_data: re-iterable of `(images, labels)` batches, labels one-hot
            `(B, K)` or int `(B,)`; images as the model takes them.
        test_data: the same, for the fields and readout accuracy.
        taps: layer names (rank-3 or rank-4 outputs), or None / `"all"`
            for the CCT's `mha`, `ff`, `res` taps of every encoder.
        theta: threshold of the statistics (kept in the result).
        readout: `"flatten"` (default) or `"pooled"`.
        epochs: readout training epochs.
        optimizer: a Keras optimizer; default SGD with the settings below
            (its learning rate is then decayed by `lr_decay` each epoch).
        learning_rate, lr_decay, momentum, weight_decay: SGD settings.
        batch_size: images per readout step (None: keep input batches).
        flip, shift: training augmentation (horizontal flip, +-shift px).
        seed: augmentation seed.
        scale: `"rms"` (1 / RMS of each node on `scale_batches` training
            batches) or None.
        scale_batches: training batches used to measure `scale`.
        num_classes: K (default: the model's output width).
        label_names: optional K names kept in the result.
        run_eagerly: train the readouts eagerly (debugging, tests).
        verbose: 0 silent; 1 progress bar and log lines.

    Returns:
        An `SNPResult` whose `TapResult`s keep `W` and `scale`.

    Example:
    ```python
    result = keras_snp.snp.compute_snp(model, train_ds, test_ds, epochs=1)
    result.save("saved_models/run/snp")
    print(result.summary()["taps"]["encoder_1_ff_hidden"]["mean_diag"])
    ```
    """
    clusters.check_theta(theta)
    config = ReadoutConfig(
        readout=readout,
        epochs=epochs,
        learning_rate=learning_rate,
        lr_decay=lr_decay,
        momentum=momentum,
        weight_decay=weight_decay,
        batch_size=batch_size,
        flip=flip,
        shift=shift,
        scale=scale,
        scale_batches=scale_batches,
        seed=seed,
    ).validate()
    specs = resolve_taps(model, taps)
    if num_classes is None:
        num_classes = int(model.outputs[0].shape[-1])
    if label_names is not None and len(label_names) != num_classes:
        raise ValueError(
            f"`label_names` must hold {num_classes} names (one per output). "
            f"Received: {len(label_names)} names"
        )
    _check_reiterable(train_data, "train_data", epochs + (scale is not None))
    engine = SNPEngine(model, specs, num_classes, config)
    engine.set_scale(train_data)
    engine.train(train_data, optimizer, run_eagerly, verbose)
    results = {}
    for spec, (acc, V, W, s) in zip(specs, engine.measure(test_data)):
        results[spec.name] = TapResult(
            name=spec.name,
            kind=spec.kind,
            encoder=spec.encoder,
            V=V,
            head=spec.head,
            tokens=spec.tokens,
            readout_accuracy=float(acc),
            W=W,
            scale=s,
        )
        if verbose:
            logger.info("%s: readout accuracy %.4f", spec.name, acc)
    return SNPResult(
        taps=results,
        theta=float(theta),
        readout=readout,
        label_names=label_names,
    )
