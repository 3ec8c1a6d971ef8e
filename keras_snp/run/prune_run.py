"""`scripts/prune.py` with its own settings: the pruning stage (and the
sweep) of a finished run folder, outside the full pipeline."""

import dataclasses
import os

from keras_snp.pruning import sweep as sweep_lib
from keras_snp.run.folder import staged_outputs
from keras_snp.run.prune_stage import run_sweep
from keras_snp.run.prune_stage import settings_from_config
from keras_snp.run.prune_stage import stage
from keras_snp.utils import read_json


def load_context(run_dir, unsafe=False, **overrides):
    """A `pipeline.Context` of a finished run (its model, data, config),
    with `RunConfig` fields overridden (None values ignored)."""
    from keras_snp.run import export as export_lib
    from keras_snp.run import pipeline
    from keras_snp.run.config import RunConfig
    from keras_snp.run.folder import RunFolder
    from keras_snp.run.folder import lock_run
    from keras_snp.training import strategy as strategy_lib
    from keras_snp.utils import UsageError

    run_json = os.path.join(run_dir, "run.json")
    if not os.path.isfile(run_json):
        raise UsageError(f"{run_dir} has no run.json: run train.py first.")
    lock_run(run_dir)
    state = read_json(run_json)
    fields = RunConfig.__dataclass_fields__
    config = RunConfig.from_dict(state["config"])
    config = dataclasses.replace(
        config,
        **{k: v for k, v in overrides.items() if v is not None and k in fields},
    )
    config = pipeline.resolve_config(config)
    model = export_lib.load_model(
        os.path.join(run_dir, "model.keras"), safe_mode=not unsafe
    )
    placement = strategy_lib.Placement("single", 1, ["default"])
    return pipeline.Context(
        config,
        RunFolder(run_dir, state),
        placement,
        pipeline.load_data(config),
        model,
    )


def prune_run(
    run_dir,
    *,
    scope=None,
    theta=None,
    fine_tune_epochs=None,
    fine_tune_steps=None,
    structured_fraction=None,
    sweep=False,
    sweep_scopes=None,
    thetas=sweep_lib.DEFAULT_THETAS,
    unsafe=False,
    verbose=1,
):
    """`scripts/prune.py`: the pruning stage of a finished run folder, and
    with `sweep` the curves and the sensitivity table.

    Settings left None are the run's (the fine-tune length: about a tenth
    of its training epochs). Returns the `pruning.json` dictionary.
    """
    ctx = load_context(run_dir, unsafe=unsafe, theta=theta, verbose=verbose)
    settings = settings_from_config(ctx.config, ctx.info)
    tune = dataclasses.replace(
        settings.fine_tune,
        epochs=(
            settings.fine_tune.epochs
            if fine_tune_epochs is None
            else fine_tune_epochs
        ),
        steps_per_epoch=fine_tune_steps,
    )
    settings = dataclasses.replace(
        settings,
        scope=scope or settings.scope,
        fine_tune=tune,
        structured_fraction=structured_fraction,
    )
    with staged_outputs(ctx, "prune"):
        summary = stage(ctx, settings)
    if sweep:
        summary = run_sweep(
            ctx, settings, scopes=sweep_scopes, thetas=thetas, verbose=verbose
        )
    ctx.folder.finish_stage(
        "prune",
        {"accuracy": summary.get("accuracy"), "params": summary.get("params")},
    )
    return summary
