"""The whole run: train -> export -> SNP -> heads -> prune -> pages.

`run(config)` validates every input before it creates the run folder, then
runs the stages in order, skipping those already done on `--resume`.
Each stage reads what the previous ones left in the run folder, so a later
stage can run alone (`scripts/analyze.py`, `scripts/prune.py`).
"""

import dataclasses
import functools
import logging
import os
import time

import keras

from keras_snp import data as data_lib
from keras_snp.models import build_cct
from keras_snp.run import export as export_lib
from keras_snp.run import fit as fit_lib
from keras_snp.run import folder as folder_lib
from keras_snp.run import tensorboard
from keras_snp.run.config import STAGES
from keras_snp.run.folder import RunFolder
from keras_snp.run.progress import report
from keras_snp.run.resolve import resolve_config
from keras_snp.settings import ReadoutConfig
from keras_snp.training import recipe as recipe_lib
from keras_snp.training import strategy as strategy_lib
from keras_snp.utils import UsageError
from keras_snp.utils import write_text

logger = logging.getLogger(__name__)

SNP_BATCH_SIZE = 100


class Context:
    """What the stages share: config, folder, data, model, placement."""

    def __init__(self, config, folder, placement, splits, model, build=None):
        self.config = config
        # builds the model as `prepare` did, at a fresh initialisation
        self.build = build
        self.folder = folder
        self.placement = placement
        self.splits = splits
        self.model = model
        self.snp_result = None
        self._snp_splits = None
        self.single_device = False
        # where the running stage writes (a staging folder; see `out`)
        self.output_root = None
        # SNP taps: None = every encoder's mha, ff_hidden and out.
        self.taps = list(config.taps) if config.taps else None
        # the pages stage's `PagesSettings` (None: the defaults)
        self.pages_settings = None

    @property
    def info(self):
        return self.splits.info

    def out(self, *parts):
        """Where the running stage writes `parts`: inside its staging
        folder while it runs (`staged_outputs`), else in the run folder."""
        return os.path.join(self.output_root or self.folder.path, *parts)

    def _snp_loaded(self):
        if self._snp_splits is None:
            self._snp_splits = load_snp_data(self.config)
        return self._snp_splits

    def snp_data(self):
        """Train and test splits for the readouts: batch 100, no recipe
        (the readouts apply their own flip + shift). Loaded once."""
        splits = self._snp_loaded()
        return splits.train, splits.test

    def snp_validation(self):
        """The validation split, batched as `snp_data` (ANDC's masks are
        chosen on it, never on test)."""
        return self._snp_loaded().validation


def load_snp_data(config):
    """The splits the readouts read: batch 100, no recipe (the readouts
    apply their own flip + shift)."""
    return data_lib.load(
        config.dataset,
        config.image_size,
        SNP_BATCH_SIZE,
        recipe="none",
        seed=config.seed,
        **source_kwargs(config),
    )


def source_kwargs(config):
    kwargs = {"data_dir": config.data_dir, "download": config.download}
    if config.label_names:
        kwargs["label_names"] = data_lib.read_label_names(config.label_names)
    if config.num_classes is not None:
        kwargs["num_classes"] = config.num_classes
    if config.examples_per_class is not None:
        kwargs["examples_per_class"] = config.examples_per_class
    if config.allow_empty_classes:
        kwargs["allow_empty_classes"] = True
    if getattr(config, "test_split", None) is not None:
        kwargs["test_split"] = config.test_split
    return kwargs


def set_precision(precision):
    policy = (
        strategy_lib.default_precision() if precision == "auto" else precision
    )
    try:
        keras.mixed_precision.set_global_policy(policy)
    except ValueError as error:
        raise UsageError(
            f"Unknown --precision {precision!r}: use auto, float32, "
            "mixed_float16 or mixed_bfloat16."
        ) from error
    return policy


def load_data(config):
    """The training splits of a resolved config.

    Full training batches only (the last partial one is dropped), so every
    replica of a strategy gets the same share and MixUp / CutMix mix whole
    batches; a training set smaller than one batch is kept whole.
    """

    def load(drop_remainder):
        return data_lib.load(
            config.dataset,
            config.image_size,
            config.batch_size,
            recipe=config.recipe,
            seed=config.seed,
            drop_remainder=drop_remainder,
            **source_kwargs(config),
        )

    splits = load(drop_remainder=True)
    train_size = splits.info.split_sizes.get("train")
    if train_size is not None and train_size < config.batch_size:
        logger.warning(
            "the %d training images are fewer than one batch "
            "of %d: one partial batch per epoch",
            train_size,
            config.batch_size,
        )
        splits = load(drop_remainder=False)
    return splits


def prepare(config, resume=False, model_fn=None, redo=()):
    """Validates inputs, builds data and model, opens the run folder.

    `model_fn(num_classes, image_size, **normalisation)` replaces
    `build_cct` (e.g. the CNN of `keras_snp.reproduce`)."""
    config = resolve_config(config, check_variant=model_fn is None)
    placement = strategy_lib.make_placement(
        config.strategy, config.cpu_replicas
    )
    strategy_lib.check_batch_size(config.batch_size, placement)
    policy = set_precision(config.precision)
    keras.utils.set_random_seed(config.seed)
    splits = load_data(config)
    defaults = data_lib.defaults_for(config.dataset).to_dict()
    build = functools.partial(
        model_fn or functools.partial(build_cct, config.variant),
        num_classes=splits.info.num_classes,
        image_size=config.image_size,
        positional_embedding=config.positional_embedding,
        **{k: defaults[k] for k in ("mean", "std") if k in defaults},
    )
    with placement.scope():
        model = build()
    folder = RunFolder.create(
        config.output_dir,
        config.resolved_run_name(),
        config,
        resume=resume,
        writer=placement.is_chief,
        redo=redo,
    )
    folder.update(
        dataset=splits.info.to_dict(),
        placement={**placement.to_dict(), "precision": policy},
        model={"variant": config.variant, "params": model.count_params()},
    )
    return Context(config, folder, placement, splits, model, build=build)


def _snp_callbacks(ctx):
    """`--snp-every N`: an `SNPCallback` measuring during training."""
    from keras_snp.run.snp_board import snp_logger
    from keras_snp.snp import SNPCallback

    config = ctx.config
    if not config.snp_every or not ctx.folder.writer:
        return []
    settings = config.readout_settings()
    readout_epochs = settings.pop("epochs")
    train, test = ctx.snp_data()
    return [
        SNPCallback(
            train,
            test,
            taps=ctx.taps or "all",
            every_n_epochs=config.snp_every,
            readout_epochs=readout_epochs,
            theta=config.theta,
            on_result=snp_logger(fit_lib.log_dir(ctx.folder, "snp")),
            at_train_end=False,
            verbose=config.verbose,
            **settings,
        )
    ]


def train_stage(ctx):
    config = ctx.config
    recipe = recipe_lib.make_recipe(
        config.recipe,
        config.learning_rate,
        config.weight_decay,
        warmup_epochs=config.warmup_epochs,
    )
    steps = fit_lib.steps_per_epoch(
        ctx.info, config.batch_size, config.steps_per_epoch
    )
    last = fit_lib.fit(
        ctx.model,
        ctx.folder,
        config,
        ctx.splits,
        ctx.placement,
        recipe,
        steps,
        extra_callbacks=_snp_callbacks(ctx),
    )
    metrics = fit_lib.evaluate(ctx.model, ctx.splits.test)
    report("train", "test accuracy %.4f", metrics["test_accuracy"])
    if ctx.folder.writer:
        export_lib.save_keras(ctx.model, ctx.folder.sub("model.keras"))
    return {"final_epoch": last, **metrics}


def export_stage(ctx):
    paths = export_lib.export_model(ctx.model, ctx.out())
    root = ctx.out()
    return {"paths": {k: os.path.relpath(v, root) for k, v in paths.items()}}


def measure_snp(
    model,
    train,
    test,
    config,
    label_names,
    out_dir,
    log_dir,
    writer=True,
    taps=None,
    validation=None,
):
    """SNP of `model` with the settings of `config` (a `RunConfig`),
    saved into `out_dir` and logged to `log_dir` when `writer`; with a
    `validation` split the fields are also measured there (the heads
    stage chooses each head's labels on them)."""
    from keras_snp.run.snp_board import log_snp
    from keras_snp.snp import compute_snp

    settings = config.readout_settings()
    if settings["solver"] == "lab":
        report(
            "snp",
            "one linear readout per tap, the lab's SGD for %d epoch(s) on "
            "the training split; the bar's loss is the sum of the taps' "
            "readout cross-entropies (near taps x ln K at first), then "
            "accuracies and fields on the test split",
            settings["epochs"],
        )
    elif settings["solver"] == "stream":
        report(
            "snp",
            "one linear readout per tap, the expectation over the "
            "augmentation: the frozen model runs once per fresh view of the "
            "training split (at most %d), %d L-BFGS passes per tap on each, "
            "averaged, until a held-out view's objective is still; then "
            "accuracies and fields on the test split",
            settings["stream_views"],
            ReadoutConfig.stream_passes,
        )
    else:
        report(
            "snp",
            "one linear readout per tap, solved to its optimum: the frozen "
            "model runs once per augmented view (%d) of the training split, "
            "then L-BFGS per tap on the cached features; then accuracies "
            "and fields on the test split",
            settings["views"],
        )
    result = compute_snp(
        model,
        train,
        test,
        theta=config.theta,
        label_names=label_names,
        taps=taps,
        cache_dir=out_dir if writer else None,
        verbose=config.verbose,
        selection_data=validation,
        **settings,
    )
    if writer:
        result.save(out_dir, save_readouts=config.save_readouts)
        log_snp(result, log_dir, step=0)
        _more_readout_seeds(
            result, model, train, test, config, taps, out_dir, settings
        )
    return result


def _more_readout_seeds(
    result, model, train, test, config, taps, out_dir, settings
):
    """With `config.readout_seeds` N > 1: the readouts solved again with
    augmentation seeds 1 .. N-1 (the first solve used seed 0), their test
    accuracies in `out_dir/readout_seeds.json` (claim 1's interval holds
    their spread)."""
    from keras_snp.snp import compute_snp
    from keras_snp.utils import write_json

    seeds = getattr(config, "readout_seeds", 1)
    if seeds < 2:
        return
    accuracies = {n: [t.readout_accuracy] for n, t in result.taps.items()}
    for seed in range(1, seeds):
        report(
            "snp", "readouts again, augmentation seed %d of %d", seed + 1, seeds
        )
        again = compute_snp(
            model,
            train,
            test,
            theta=config.theta,
            taps=taps,
            cache_dir=out_dir,
            verbose=0,
            **{**settings, "seed": seed},
        )
        for name, tap in again.taps.items():
            accuracies[name].append(tap.readout_accuracy)
    write_json(
        os.path.join(out_dir, "readout_seeds.json"),
        {"seeds": list(range(seeds)), "taps": accuracies},
    )


def measure_heads(
    model, snp_result, test, config, label_names, out_dir, log_dir, writer=True
):
    """The label-expert report of `model` (settings of `config`), written
    into `out_dir` and logged to `log_dir` when `writer`; returns the
    per-encoder metrics for run.json."""
    from keras_snp.heads import analyze_heads
    from keras_snp.heads import write_heads_report
    from keras_snp.run.heads_board import log_heads

    report = analyze_heads(
        snp_result,
        model,
        test,
        label_names=label_names,
        seed=config.seed,
        **dataclasses.asdict(config.heads_settings()),
    )
    if writer:
        paths = write_heads_report(report, out_dir)
        log_heads(report, paths, log_dir)
    return {
        str(e["encoder"]): {
            "symmetry_breaking": e["symmetry_breaking"],
            **e["metrics"],
            "ablation_contrast": (e["ablation"] or {}).get("mean_contrast"),
        }
        for e in report.to_dict()["encoders"]
    }


def _measure_snp(ctx, model, out_dir, log_dir, config=None):
    train, test = ctx.snp_data()
    return measure_snp(
        model,
        train,
        test,
        config or ctx.config,
        ctx.info.label_names,
        out_dir,
        log_dir,
        writer=ctx.folder.writer,
        taps=ctx.taps,
        validation=ctx.snp_validation(),
    )


def _measure_heads(ctx, model, snp_result, out_dir, log_dir):
    metrics = measure_heads(
        model,
        snp_result,
        ctx.snp_data()[1],
        ctx.config,
        ctx.info.label_names,
        out_dir,
        log_dir,
        writer=ctx.folder.writer,
    )
    reason = ctx.folder.state.get("not_learned")
    report_md = os.path.join(out_dir, "heads.md")
    if reason and os.path.isfile(report_md):
        with open(report_md, encoding="utf-8") as f:
            text = f.read()
        write_text(
            report_md,
            "> **Analysed anyway, although the model did not learn:** "
            f"{reason}.\n\n{text}",
        )
    return metrics


def snp_stage(ctx):
    ctx.snp_result = _measure_snp(
        ctx,
        ctx.model,
        ctx.out("snp"),
        fit_lib.log_dir(ctx.folder, "snp"),
    )
    return {
        "taps": {
            name: {"readout_accuracy": t.readout_accuracy}
            for name, t in ctx.snp_result.taps.items()
        }
    }


def _snp_result(ctx):
    from keras_snp.snp import SNPResult

    if ctx.snp_result is None:
        ctx.snp_result = SNPResult.load(os.path.join(ctx.folder.path, "snp"))
    return ctx.snp_result


def heads_stage(ctx):
    encoders = _measure_heads(
        ctx,
        ctx.model,
        _snp_result(ctx),
        ctx.out("heads"),
        fit_lib.log_dir(ctx.folder, "heads"),
    )
    return {"encoders": encoders}


def control_stage(ctx):
    """The control of claims 2 and 4: the SNP and head reports of the same
    network untrained (initialised with the run's seed), measured exactly
    as the trained one's, into `control/snp` and `control/heads`. One
    readout seed: the control asks whether a trend or an expert exists
    without training, not how precisely."""
    keras.utils.set_random_seed(ctx.config.seed)
    untrained = ctx.build()
    config = dataclasses.replace(ctx.config, readout_seeds=1)
    snp_result = _measure_snp(
        ctx,
        untrained,
        ctx.out("control", "snp"),
        fit_lib.log_dir(ctx.folder, "control", "snp"),
        config=config,
    )
    # measure_heads, not _measure_heads: the latter's "did not learn"
    # banner is about the trained model, not this one.
    encoders = measure_heads(
        untrained,
        snp_result,
        ctx.snp_data()[1],
        config,
        ctx.info.label_names,
        ctx.out("control", "heads"),
        fit_lib.log_dir(ctx.folder, "control", "heads"),
        writer=ctx.folder.writer,
    )
    return {
        "taps": {
            name: {"readout_accuracy": t.readout_accuracy}
            for name, t in snp_result.taps.items()
        },
        "encoders": encoders,
    }


def prune_stage(ctx):
    """ANDC with its controls, then the SNP and head reports of the
    physically smaller model (in `pruned/snp`, `pruned/heads`)."""
    from keras_snp.run import prune_stage as prune_lib

    config = ctx.config
    pruned_dir = ctx.out("pruned")
    summary = prune_lib.stage(ctx)
    metrics = {
        "accuracy": summary.get("accuracy"),
        "params": summary.get("params"),
    }
    if "snp" in config.stages:
        pruned = export_lib.load_model(os.path.join(pruned_dir, "model.keras"))
        report("prune", "SNP of the pruned model (pruned/snp)")
        result = _measure_snp(
            ctx,
            pruned,
            os.path.join(pruned_dir, "snp"),
            fit_lib.log_dir(ctx.folder, "pruning", "snp"),
        )
        if "heads" in config.stages:
            report("prune", "head experts of the pruned model (pruned/heads)")
            metrics["heads"] = _measure_heads(
                ctx,
                pruned,
                result,
                os.path.join(pruned_dir, "heads"),
                fit_lib.log_dir(ctx.folder, "pruning", "heads"),
            )
    return metrics


def pages_stage(ctx):
    """The browsable pages of every node, head and encoder
    (`RUN_DIR/pages/`), and a few of them on TensorBoard; settings from
    `ctx.pages_settings` (None: `PagesSettings()`)."""
    from keras_snp.run import pages_stage as pages_lib

    return pages_lib.stage(ctx, _snp_result(ctx), ctx.pages_settings)


STAGE_FUNCTIONS = {
    "train": train_stage,
    "export": export_stage,
    "snp": snp_stage,
    "heads": heads_stage,
    "control": control_stage,
    "prune": prune_stage,
    "pages": pages_stage,
}


def run_stages(ctx, stages, redo=()):
    """Runs `stages` in order, skipping those already done (unless in
    `redo`). A stage that is skipped but needed later is reloaded."""
    rerun = False  # once a stage's files fail to verify, all after it run
    if "train" not in stages and ctx.folder.stage_done("train"):
        # `--resume --stages snp ...`: the analysis stages read the trained
        # model, not the freshly built one `prepare` made.
        _reload_trained(ctx)
    for name in STAGES:
        if name not in stages:
            continue
        done = ctx.folder.stage_done(name) and name not in redo
        if done and not rerun:
            bad = ctx.folder.verify_stage(name)
            if bad is not None:
                logger.warning(
                    "%s: %s does not match what the stage wrote (size or "
                    "SHA-256): running %s and the stages after it again",
                    name,
                    bad,
                    name,
                )
                rerun = True
        if done and not rerun:
            report(name, "done before, skipped")
            if name == "train":
                _reload_trained(ctx)
            continue
        if name in ANALYSIS_STAGES:
            check_learned(ctx)
        report(name, STAGE_TITLES[name])
        start = time.monotonic()
        if name in ANALYSIS_STAGES:
            _single_device_model(ctx)
        with folder_lib.staged_outputs(ctx, name):
            metrics = STAGE_FUNCTIONS[name](ctx)
        seconds = time.monotonic() - start
        ctx.folder.finish_stage(
            name, {**(metrics or {}), "wall_seconds": round(seconds, 1)}
        )
        report(name, "done in %s", _duration(seconds))
    tensorboard.close_all()
    return ctx.folder


ANALYSIS_STAGES = ("snp", "heads", "control", "prune", "pages")


class NotLearned(UsageError):
    """The trained model learned nothing to analyse."""


def check_learned(ctx):
    """Stops before the analysis stages when the model did not learn
    (`keras_snp.run.learned`), unless `analyse_anyway`: then run.json
    records why (`not_learned`), and every report says so at the top."""
    from keras_snp.run.learned import not_learned_reason

    state = ctx.folder.state
    sizes = ctx.info.split_sizes or {}
    reason = not_learned_reason(
        state.get("history"), ctx.info.num_classes, sizes.get("validation")
    )
    if reason is None:
        if state.pop("not_learned", None) is not None:
            ctx.folder.save()
        return
    if not ctx.config.analyse_anyway:
        raise NotLearned(
            f"The model did not learn: {reason}. SNP, head reports and "
            "pruning would read noise, so they did not run: train longer or "
            "with a lower --learning-rate (--resume --redo train), or pass "
            "--analyse-anyway to analyse it regardless."
        )
    if state.get("not_learned") != reason:
        logger.warning(
            "analysed anyway, although the model did not learn: %s", reason
        )
        ctx.folder.update(not_learned=reason)


STAGE_TITLES = {
    "train": "training",
    "export": "saving the model (.keras, SavedModel)",
    "snp": "single-nodal performance of every tap",
    "heads": "head label experts, null model, ablation",
    "control": "SNP and head experts of the untrained network (control)",
    "prune": "ANDC pruning with controls, fine-tunes, export",
    "pages": "browsable pages of every node, head and encoder",
}


def _duration(seconds):
    if seconds < 90:
        return f"{seconds:.1f} s"
    return f"{seconds // 60:.0f} min {seconds % 60:02.0f} s"


def _single_device_model(ctx):
    """SNP, heads and pruning run on one device: a model trained under a
    strategy (mirrored variables) is reloaded from `model.keras` outside
    it, once."""
    if ctx.placement.num_replicas > 1 and not ctx.single_device:
        ctx.model = export_lib.load_model(ctx.folder.read_path("model.keras"))
        ctx.single_device = True


def _reload_trained(ctx):
    path = ctx.folder.read_path("model.keras")
    if os.path.isfile(path):
        with ctx.placement.scope():
            ctx.model = export_lib.load_model(path)


def run(config, resume=False, redo=(), model_fn=None, taps=None):
    """Runs the whole pipeline of `config`; returns the `RunFolder`.

    `model_fn` builds another model than the CCT (see `prepare`); `taps`
    are then the layer names the SNP stage measures."""
    ctx = prepare(config, resume=resume, model_fn=model_fn, redo=redo)
    if taps:
        ctx.taps = taps
    try:
        return run_stages(ctx, ctx.config.stages, redo)
    except BaseException:
        ctx.folder.discard()
        raise
    finally:
        ctx.folder.close()  # a non-chief worker's scratch folder
