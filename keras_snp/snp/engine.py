"""`compute_snp`: readouts, fields and statistics of every tap of a model.

METHOD.md section 2. Streaming throughout: one batch of activations is held
at a time, never a whole split.
"""

import dataclasses
import logging

import keras
import numpy as np

from keras_snp.snp import clusters
from keras_snp.snp.cache import FeatureCache
from keras_snp.snp.fields import SNPAccumulator
from keras_snp.snp.fields import readout_input
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
from keras_snp.snp.solver import Convergence
from keras_snp.snp.solver import ReadoutProblem
from keras_snp.snp.solver import solve_readout
from keras_snp.snp.stream import solve_stream
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
        run_eagerly: run the frozen forward and the lab's SGD eagerly.
    """

    def __init__(self, model, specs, num_classes, config, run_eagerly=False):
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
        self.run_eagerly = run_eagerly
        self.forward = keras.Model(images, feats, name="snp_taps")

    def features(self, images):
        """One frozen forward in inference mode: the list of tap outputs
        (numpy). Compiled as `predict_on_batch` compiles (the readout
        solvers run it once per view and batch: eager dispatch cost more
        than the forward itself on small models); eager with
        `run_eagerly`."""
        if self.run_eagerly:
            return _as_list(self.frozen(images))
        return _as_list(self.forward.predict_on_batch(images))

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

    def train(
        self,
        train_data,
        optimizer=None,
        run_eagerly=False,
        verbose=1,
        on_epoch_end=None,
    ):
        """Trains every readout in one pass per epoch (the lab's protocol);
        returns the losses. `on_epoch_end(epoch, engine)`, if given, is
        called after every epoch (epochs from 1)."""
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
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, self)
        return history

    def lab_convergence(self, history):
        """The lab protocol's record: its last epoch's mean summed loss
        spread over the taps; convergence is not measured."""
        loss = history[-1] / len(self.readouts) if history else None
        return [
            Convergence(
                solver="lab",
                converged=None,
                objective=None,
                loss=loss,
                grad_norm=None,
                relative_grad_norm=None,
                passes=self.config.epochs,
                rows=None,
                seconds=None,
            )
            for _ in self.readouts
        ]

    def cache_features(
        self, train_data, directory=None, verbose=1, views=None, first_view=0
    ):
        """Runs the frozen model once per augmented view of `train_data`
        and caches every tap's flattened readout input: `views` views
        (default `config.views`), seeded `first_view`, `first_view + 1`..."""
        cfg = self.config
        views = cfg.views if views is None else views
        pooled = cfg.readout == "pooled"
        widths = [(1 if pooled else s.tokens) * s.nodes for s in self.specs]
        cache = FeatureCache(
            widths, cfg.cache_dtype, cfg.cache_bytes, directory
        )
        try:
            for view in range(views):
                rng = np.random.default_rng([cfg.seed, first_view + view])
                bar = keras.utils.Progbar(
                    None, verbose=1 if verbose else 0, unit_name="batch"
                )
                for step, (images, labels) in enumerate(
                    rebatch(train_data, cfg.batch_size)
                ):
                    images = augment(images, rng, cfg.flip, cfg.shift)
                    feats = [
                        keras.ops.convert_to_numpy(
                            readout_input(f, None, pooled)
                        )
                        for f in self.features(images)
                    ]
                    cache.append(feats, labels)
                    if verbose:
                        bar.update(step + 1)
                if view == 0:  # the size of the whole cache is now known
                    cache.expected_rows = cache.rows * views
        except BaseException:
            cache.close()
            raise
        if not cache.rows:
            cache.close()
            raise ValueError("`train_data` yielded no batch.")
        if verbose:
            logger.info(
                "feature cache: %d views x %d rows, %.2f GB %s",
                views,
                cache.rows // views,
                cache.nbytes / 1e9,
                "on disk" if cache.on_disk else "in memory",
            )
        return cache

    def solve(self, cache, verbose=1):
        """Solves every readout on `cache` to its optimum; sets the
        readouts' kernels (scale 1) and returns their `Convergence`s."""
        cfg = self.config
        solver = cfg.solver_config()
        labels = cache.labels
        records = []
        for index, (spec, readout) in enumerate(zip(self.specs, self.readouts)):
            width = cache.widths[index]
            float32 = cache.rows * width * 4 <= cfg.cache_bytes
            problem = ReadoutProblem(
                cache.blocks(index, solver.block_rows),
                labels,
                self.num_classes,
                cfg.weight_decay,
                dtype="float32" if float32 else cfg.cache_dtype,
            )
            W, record = solve_readout(problem, solver, seed=cfg.seed)
            del problem
            readout.kernel.assign(W)
            readout.scale.assign(np.ones((spec.nodes,), "float32"))
            records.append(record)
            if verbose:
                logger.info(
                    "%s: readout objective %.5f, loss %.4f, %d passes, "
                    "relative gradient %.1e (%s), %.1f s",
                    spec.name,
                    record.objective,
                    record.loss,
                    record.passes,
                    record.relative_grad_norm,
                    "converged" if record.converged else "NOT converged",
                    record.seconds,
                )
        return records

    def fit(self, train_data, optimizer=None, cache_dir=None, verbose=1):
        """Trains every readout with the configured solver (eagerly with
        the engine's `run_eagerly`); returns one `Convergence` per tap."""
        if self.config.solver == "lab":
            self.set_scale(train_data)
            return self.lab_convergence(
                self.train(train_data, optimizer, self.run_eagerly, verbose)
            )
        if self.config.solver == "stream":
            return solve_stream(self, train_data, cache_dir, verbose)
        cache = self.cache_features(train_data, cache_dir, verbose)
        try:
            return self.solve(cache, verbose)
        finally:
            cache.close()

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
    config=None,
    optimizer=None,
    num_classes=None,
    label_names=None,
    cache_dir=None,
    run_eagerly=False,
    verbose=1,
    selection_data=None,
    **settings,
):
    """Single-nodal performance of every node of the chosen taps.

    Trains one bias-free readout per tap on a frozen copy of `model` (in
    inference mode; `model` itself is never modified), then accumulates
    every node's SNP matrix `V` on the test split (METHOD.md section 2).
    By default (`solver="stream"`) each readout minimises the expectation
    of its convex objective over the augmentation, by steps on fresh
    views until a held-out view's objective is still; `solver="lbfgs"`
    solves it to the optimum on a few cached views; `solver="lab"` runs
    the lab's SGD. Convergence is recorded in `TapResult.convergence`.

    Args:
        model: a trained single-input Keras model (functional/Sequential).
        train_data: re-iterable of `(images, labels)` batches, labels one-hot
            `(B, K)` or int `(B,)`; images as the model takes them.
        test_data: the same, for the fields and readout accuracy.
        taps: layer names (rank-3 or rank-4 outputs), or None / `"all"`
            for the CCT's `mha`, `ff`, `res` taps of every encoder.
        theta: threshold of the statistics (kept in the result).
        config: a `ReadoutConfig` (default: `ReadoutConfig()`).
        optimizer: a Keras optimizer for `solver="lab"` (default: the
            lab's Nesterov SGD with coupled L2, decayed per epoch).
        num_classes: K (default: the model's output width).
        label_names: optional K names kept in the result.
        cache_dir: where the feature cache spills when it exceeds
            `cache_memory_gb` (default: the system's temporary folder).
        run_eagerly: run the frozen forward and the lab's SGD eagerly
            (debugging, tests).
        verbose: 0 silent; 1 progress bars and log lines.
        selection_data: a validation split on which every `V` is also
            measured (`TapResult.V_validation`), or None.
        **settings: `ReadoutConfig` fields overriding `config` (`solver`,
            `views`, `tolerance`, `max_passes`, `epochs`, `seed`, ...).

    Returns:
        An `SNPResult` whose `TapResult`s keep `W`, `scale` and
        `convergence`.

    Example:
    ```python
    result = keras_snp.snp.compute_snp(model, train_ds, test_ds)
    result.save("saved_models/run/snp")
    print(result.summary()["taps"]["encoder_1_ff_hidden"]["mean_diag"])
    ```
    """
    clusters.check_theta(theta)
    config = config or ReadoutConfig()
    unknown = sorted(set(settings) - set(ReadoutConfig.__dataclass_fields__))
    if unknown:
        raise TypeError(
            f"Unknown `compute_snp` setting(s) {unknown}: pass fields of "
            f"ReadoutConfig ({', '.join(ReadoutConfig.__dataclass_fields__)})."
        )
    config = dataclasses.replace(config, **settings).validate()
    specs = resolve_taps(model, taps)
    if num_classes is None:
        num_classes = int(model.outputs[0].shape[-1])
    if label_names is not None and len(label_names) != num_classes:
        raise ValueError(
            f"`label_names` must hold {num_classes} names (one per output). "
            f"Received: {len(label_names)} names"
        )
    reads = {
        "lab": config.epochs + (config.scale is not None),
        "stream": config.stream_views + 1,
    }.get(config.solver, config.views)
    _check_reiterable(train_data, "train_data", reads)
    engine = SNPEngine(model, specs, num_classes, config, run_eagerly)
    records = engine.fit(train_data, optimizer, cache_dir, verbose)
    results = {}
    selection = (
        [None] * len(specs)
        if selection_data is None
        else [m[1] for m in engine.measure(selection_data)]
    )
    for spec, record, (acc, V, W, s), V_val in zip(
        specs, records, engine.measure(test_data), selection
    ):
        results[spec.name] = TapResult(
            name=spec.name,
            kind=spec.kind,
            encoder=spec.encoder,
            V=V,
            head=spec.head,
            tokens=spec.tokens,
            readout_accuracy=float(acc),
            W=W,
            scale=s if config.solver == "lab" else None,
            convergence=record.to_dict(),
            V_validation=V_val,
        )
        if verbose:
            logger.info("%s: readout accuracy %.4f", spec.name, acc)
    result = SNPResult(
        taps=results,
        theta=float(theta),
        readout=config.readout,
        label_names=label_names,
    )
    warn_not_converged(result)
    return result


def warn_not_converged(result):
    """Names every tap whose readout did not converge, on stdout's logger
    as a warning; returns their names."""
    names = result.not_converged()
    if names:
        logger.warning(
            "SNP readouts NOT converged for %d tap(s): %s. Their statistics "
            "are not the optimum's: raise `max_passes` "
            "(--readout-max-passes), for solver='stream' `stream_views` "
            "(--readout-stream-views), or the tolerance.",
            len(names),
            ", ".join(names),
        )
    return names
