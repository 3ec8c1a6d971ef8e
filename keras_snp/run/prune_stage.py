"""The pruning stage's orchestration: the run folder in, files out.

The algorithm (METHOD.md section 4: masks from validation, the controls,
one fine-tune for every row, shrinking) is `keras_snp.pruning.stage`;
this module reads the run folder and the splits, calls it, and writes
what it returns:

- `snp_validation/` (the SNP the masks came from);
- the shrunken ANDC model (`.keras` deflated, SavedModel), and the
  structured one when asked;
- `pruning.json` (`PruningResult.to_dict()` without `layers`, plus file
  sizes and notes), `pruning_detail.json` (`layers`), `predictions.npz`
  (every row's per-image hits), and TensorBoard.

`run_sweep` adds the dilution-accuracy curves and the per-layer
sensitivity table (`keras_snp.pruning.sweep`) to a pruned run.
"""

import dataclasses
import logging
import os
import tempfile

import numpy as np

from keras_snp.pruning import sweep as sweep_lib
from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.andc import pruning_taps
from keras_snp.pruning.fine_tuning import FineTune
from keras_snp.pruning.fine_tuning import default_fine_tune_epochs
from keras_snp.pruning.result import ROWS
from keras_snp.pruning.scoring import accuracy
from keras_snp.pruning.scoring import correctness
from keras_snp.pruning.stage import PruneSettings
from keras_snp.pruning.stage import choose_masks
from keras_snp.pruning.stage import clone
from keras_snp.pruning.stage import evaluate
from keras_snp.pruning.stage import evaluation_steps
from keras_snp.pruning.stage import prune_and_evaluate
from keras_snp.run.progress import Steps
from keras_snp.run.pruning_board import log_pruning
from keras_snp.utils import atomic_path
from keras_snp.utils import read_json
from keras_snp.utils import write_json

DETAIL_NOTES = {
    "dilution": "share of the prunable connections (masked Dense kernels) "
    "that ANDC removes; per scope in dilution_by_scope",
    "sparsity": "in accuracy_table: the dilution of that row's masks (0 "
    "for the unpruned rows)",
    "pruning_detail.json": "per masked layer: kept connections (per input "
    "node), the controls' counts and overlap, parameters before / after; "
    "kept_nodes: per shrunk tap, the unpruned index of each pruned node",
}
# the sweep's per-image test hits, keyed by `pruning.scopes.point_key`
SWEEP_PREDICTIONS = "sweep_predictions.npz"

logger = logging.getLogger(__name__)

__all__ = [
    "ROWS",
    "PruneSettings",
    "accuracy",
    "choose_masks",
    "correctness",
    "evaluate",
    "run_pruning",
    "run_sweep",
    "settings_from_config",
    "stage",
    "write",
]


def reiterable_test_split(data):
    """The test split, iterable more than once: a `tf.data.Dataset` as it
    is, any other iterable of batches as a list."""
    return data if hasattr(data, "element_spec") else list(data)


def _export(model, directory, export_fn, compress):
    from keras_snp.run import export as export_lib

    os.makedirs(directory, exist_ok=True)
    if export_fn is not None:
        export_fn(model, directory)
    if compress or export_fn is None:
        export_lib.save_keras(
            model, os.path.join(directory, "model.keras"), compress=compress
        )
    return export_lib.model_sizes(directory)


def write(
    model,
    small,
    summary,
    hits,
    out_dir,
    *,
    export_fn=None,
    compress=True,
    structured=None,
    log_dir=None,
):
    """Writes the pruned model(s), `pruning.json`, `predictions.npz` and
    TensorBoard; adds `sizes` (raw and deflated bytes, unpruned and
    pruned) to `summary`."""
    from keras_snp.run import export as export_lib

    sizes = {"pruned": _export(small, out_dir, export_fn, compress)}
    with tempfile.TemporaryDirectory() as tmp:
        # An uncompiled copy: no optimizer state in the file, as in the
        # shrunken model, so the sizes compare weights with weights.
        plain = clone(model)
        sizes["unpruned"] = _export(plain, tmp, export_fn, compress=False)
        unpruned_deflated = os.path.join(tmp, "deflated.keras")
        export_lib.save_keras(plain, unpruned_deflated, compress=True)
        sizes["unpruned"]["keras_deflate_written_bytes"] = os.path.getsize(
            unpruned_deflated
        )
    sizes["note"] = (
        "keras_bytes: the file as written (pruned: a deflated zip); "
        "*_deflated_bytes: a level-9 deflate zip of the file or folder; "
        "no optimizer state in either model"
    )
    if structured is not None:
        sizes["structured"] = _export(
            structured, os.path.join(out_dir, "structured"), export_fn, compress
        )
    ratio = {}
    for key in ("keras_deflated_bytes", "saved_model_deflated_bytes"):
        if key in sizes["pruned"] and key in sizes["unpruned"]:
            ratio[key] = sizes["pruned"][key] / sizes["unpruned"][key]
    sizes["pruned_over_unpruned"] = ratio
    summary["sizes"] = sizes
    detail = ("layers", "kept_nodes")
    head = {k: v for k, v in summary.items() if k not in detail}
    head["notes"] = DETAIL_NOTES
    write_json(os.path.join(out_dir, "pruning.json"), head)
    write_json(
        os.path.join(out_dir, "pruning_detail.json"),
        {k: summary[k] for k in detail if k in summary},
    )
    # Per-example correctness of every row, for bootstrap CIs over images.
    with atomic_path(os.path.join(out_dir, "predictions.npz")) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{k: v.astype(bool) for k, v in hits.items()})
    if log_dir:
        log_pruning(summary, log_dir)
    return summary


def run_pruning(
    model,
    train_data,
    test_data,
    out_dir,
    settings,
    *,
    snp_train=None,
    snp_validation=None,
    snp_result=None,
    label_names=None,
    log_dir=None,
    export_fn=None,
    verbose=0,
):
    """ANDC-prunes a trained CCT, compares it with controls, exports it.

    Args:
        model: the trained CCT (left unchanged).
        train_data: the training split (fine-tunes), with its recipe.
        test_data: the test split (every accuracy).
        out_dir: `<run>/pruned`.
        settings: a `PruneSettings`.
        snp_train, snp_validation: readout data (train, batch 100, no
            recipe) and the validation split for `V`; or instead
        snp_result: an SNP result already measured on validation data
            holding the scope's taps (tests, sweeps).
        label_names: kept in the SNP result.
        log_dir: TensorBoard folder, or None.
        export_fn: `export_fn(model, directory)` writing the SavedModel
            (`keras_snp.run.export.export_model`), or None.
        verbose: verbosity.

    Returns:
        The `pruning.json` dictionary.

    Example:
    ```python
    summary = run_pruning(model, splits.train, splits.test, "run/pruned",
                          PruneSettings(scope="readout+ff"),
                          snp_train=snp.train, snp_validation=snp.validation)
    summary["accuracy"]["andc_fine_tuned"]
    ```
    """
    if snp_result is None:
        snp_result, masks = choose_masks(
            model,
            snp_train,
            snp_validation,
            settings,
            label_names=label_names,
            verbose=verbose,
        )
        snp_result.save(
            os.path.join(out_dir, "snp_validation"), save_readouts=False
        )
    else:
        masks = connection_masks(
            model, snp_result, settings.theta, settings.scope
        )
    result = prune_and_evaluate(
        model,
        masks,
        train_data,
        reiterable_test_split(test_data),
        settings,
        snp_result=snp_result,
        verbose=verbose,
        steps=Steps("prune", total=evaluation_steps(settings)),
    )
    return write(
        model,
        result.pruned,
        result.to_dict(),
        result.hits,
        out_dir,
        export_fn=export_fn,
        compress=settings.compress,
        structured=result.structured_pruned,
        log_dir=log_dir,
    )


def settings_from_config(config, info=None):
    """`PruneSettings` of a resolved `RunConfig`: the fine-tune is the
    run's recipe; its length `config.fine_tune_epochs`, or about a tenth of
    the training epochs when that is None. `info`: the run's
    `DatasetInfo` (its train split may already hold the recipe's crop)."""
    epochs = getattr(config, "fine_tune_epochs", None)
    if epochs is None:
        epochs = default_fine_tune_epochs(config.epochs)
    tune = FineTune(
        epochs=epochs,
        recipe=config.recipe,
        learning_rate=config.learning_rate,
        weight_decay=config.weight_decay,
        warmup_epochs=config.warmup_epochs,
        steps_per_epoch=getattr(config, "fine_tune_steps", None),
        seed=config.seed,
        device_crop=not getattr(info, "whole_image_crop", False),
    )
    return PruneSettings(
        scope=getattr(config, "scope", None) or config.prune_scope,
        theta=config.theta,
        fine_tune=tune,
        readout=(
            config.readout_settings()
            if hasattr(config, "readout_settings")
            else {}
        ),
        structured_fraction=getattr(config, "structured_fraction", None),
        seed=config.seed,
    )


def _snp_splits(ctx):
    """Readout training data and the validation split (batch 100, no
    recipe), as the SNP stage loads them."""
    return ctx.snp_data()[0], ctx.snp_validation()


def stage(ctx, settings=None):
    """The pipeline's prune stage on a `pipeline.Context`; returns the
    `pruning.json` dictionary."""
    from keras_snp.run import export as export_lib
    from keras_snp.run import fit as fit_lib

    settings = settings or settings_from_config(ctx.config, ctx.info)
    snp_train, snp_validation = _snp_splits(ctx)
    return run_pruning(
        ctx.model,
        ctx.splits.train,
        ctx.splits.test,
        ctx.out("pruned"),
        settings,
        snp_train=snp_train,
        snp_validation=snp_validation,
        label_names=ctx.info.label_names,
        log_dir=fit_lib.log_dir(ctx.folder, "pruning"),
        export_fn=export_lib.export_model,
        verbose=ctx.config.verbose,
    )


def run_sweep(
    ctx,
    settings=None,
    *,
    scopes=None,
    thetas=sweep_lib.DEFAULT_THETAS,
    verbose=0,
):
    """Adds the dilution-accuracy curves (`sweep`), the per-layer
    `sensitivity` table and `sweep.png` to `<run>/pruned/`.

    Uses the validation SNP the stage saved (`pruned/snp_validation`),
    measuring it first when absent; every point gets `settings.fine_tune`.
    """
    from keras_snp.run import fit as fit_lib
    from keras_snp.snp import SNPResult

    settings = settings or settings_from_config(ctx.config, ctx.info)
    scopes = tuple(scopes or sweep_lib.LAYER_SCOPES)
    out_dir = ctx.out("pruned")
    snp_dir = os.path.join(out_dir, "snp_validation")
    wide = dataclasses.replace(settings, scope="+".join(scopes))
    needed = pruning_taps(ctx.model, wide.scope)
    result = (
        SNPResult.load(snp_dir)
        if os.path.isfile(os.path.join(snp_dir, "snp.npz"))
        else None
    )
    if result is None or any(t not in result.taps for t in needed):
        snp_train, snp_validation = _snp_splits(ctx)
        result, _ = choose_masks(
            ctx.model, snp_train, snp_validation, wide, verbose=verbose
        )
        result.save(snp_dir)
    test = reiterable_test_split(ctx.splits.test)
    hits = {}
    rows = sweep_lib.sweep(
        ctx.model,
        result,
        ctx.splits.train,
        test,
        settings.fine_tune,
        scopes=scopes,
        thetas=thetas,
        seed=settings.seed,
        verbose=verbose,
        hits=hits,
    )
    base = accuracy(ctx.model, test)
    table = sweep_lib.sensitivity(
        ctx.model, result, test, settings.theta, wide.scope, baseline=base
    )
    path = os.path.join(out_dir, "pruning.json")
    summary = read_json(path) if os.path.isfile(path) else {}
    references = {"unpruned": base}
    if "unpruned_fine_tuned" in summary.get("accuracy", {}):
        references["unpruned_fine_tuned"] = summary["accuracy"][
            "unpruned_fine_tuned"
        ]
    summary["sweep"] = {
        "fine_tune": dataclasses.asdict(settings.fine_tune),
        "thetas": list(thetas),
        "rows": rows,
        "references": references,
    }
    summary["sensitivity"] = {
        "theta": settings.theta,
        "unpruned": base,
        "rows": table,
    }
    os.makedirs(out_dir, exist_ok=True)
    # per-image hits: the report pairs every point with unpruned_fine_tuned
    with atomic_path(os.path.join(out_dir, SWEEP_PREDICTIONS)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **hits)
    summary["sweep"]["predictions"] = SWEEP_PREDICTIONS
    figure = sweep_lib.sweep_figure(
        rows, os.path.join(out_dir, "sweep.png"), references
    )
    write_json(path, summary)
    _log_image(fit_lib.log_dir(ctx.folder, "pruning"), figure)
    return summary


def _log_image(log_dir, png):
    from keras_snp.run import tensorboard

    tensorboard.write_image(log_dir, "pruning/sweep", png, step=0)
