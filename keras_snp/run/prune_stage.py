"""The pruning stage: sets from validation, fair fine-tunes, a small export.

METHOD.md section 4, in four steps:

1. `choose_masks`: SNP of exactly the taps the scope's layers read and
   write (`pruning_taps`), readouts trained on the training split, `V`
   measured on the validation split; ANDC masks from it. Test labels are
   never seen here.
2. `evaluate`: every row scored on the test split. `unpruned`,
   `andc_masked`, and after one identical fine-tune (`FineTune`: the
   training recipe) `unpruned_fine_tuned`, `andc_fine_tuned`,
   `random_fine_tuned` (curveball: same kept connections per input and
   per output node), `magnitude_fine_tuned` (largest |w| per layer at the
   ANDC sparsity) and, opt-in, `structured_fine_tuned` (ours: whole FF
   units and heads, weakest by SNP).
3. `summarise`: `pruning.json`'s dictionary (per-scope dilution, layers,
   parameters, FLOPs, the fine-tune records).
4. `write`: the shrunken ANDC model (`.keras` deflated, SavedModel),
   `pruning.json`, `predictions.npz`, file sizes, TensorBoard.

`run_sweep` adds the dilution-accuracy curves and the per-layer
sensitivity table (`keras_snp.pruning.sweep`) to a pruned run.
"""

import dataclasses
import logging
import os
import tempfile

import keras
import numpy as np

from keras_snp.constants import DEFAULT_THETA
from keras_snp.models.flops import count_flops
from keras_snp.pruning import sweep as sweep_lib
from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.andc import dilution_by_scope
from keras_snp.pruning.andc import prune
from keras_snp.pruning.andc import pruning_taps
from keras_snp.pruning.andc import scope_name
from keras_snp.pruning.fine_tuning import FineTune
from keras_snp.pruning.fine_tuning import default_fine_tune_epochs
from keras_snp.pruning.fine_tuning import fine_tune
from keras_snp.pruning.scoring import accuracy
from keras_snp.pruning.scoring import correctness
from keras_snp.pruning.shrinking import shrink
from keras_snp.pruning.structured import structured_masks
from keras_snp.pruning.structured import structured_taps
from keras_snp.pruning.sweep import control_masks
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
    "node), the controls' counts and overlap, parameters before / after",
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
    "summarise",
    "write",
]

ROWS = {
    "unpruned": "the trained model",
    "andc_masked": "ANDC masks, before fine-tuning",
    "unpruned_fine_tuned": "the unpruned model after the same fine-tuning",
    "andc_fine_tuned": "ANDC masks, after fine-tuning",
    "random_fine_tuned": "random masks, same kept connections per input "
    "and per output node, after the same fine-tuning",
    "magnitude_fine_tuned": "largest |w| per layer at the ANDC sparsity, "
    "after the same fine-tuning",
}
STRUCTURED_ROW = (
    "structured_fine_tuned",
    "ours, beyond the paper: whole FF units and heads cut, "
    "weakest by SNP, after the same fine-tuning",
)


@dataclasses.dataclass(frozen=True)
class PruneSettings:
    """Settings of one pruning stage.

    Attributes:
        scope: layer scope (`keras_snp.pruning.andc.parse_scope`).
        theta: SNP threshold of the masks.
        fine_tune: the `FineTune` of every fine-tuned row.
        readout: the pruning SNP's readout settings (`compute_snp`
            keywords; default: `ReadoutConfig()`'s).
        structured_fraction: share of FF units and heads the structured
            variant removes per encoder; None: no structured row.
        seed: seed of the random control (and of the readouts).
        compress: write the pruned `.keras` deflated.
    """

    scope: str = "all"
    theta: float = DEFAULT_THETA
    fine_tune: FineTune = FineTune()
    readout: dict = dataclasses.field(default_factory=dict)
    structured_fraction: float | None = None
    seed: int = 0
    compress: bool = True


def choose_masks(
    model, snp_train, snp_validation, settings, *, label_names=None, verbose=0
):
    """The ANDC masks of `settings.scope`, from validation data only.

    Readouts are trained on `snp_train`; `V` is measured on
    `snp_validation` (METHOD.md section 4). The test split is not an
    argument: mask choice cannot see it.

    Returns:
        `(snp_result, masks)`.
    """
    from keras_snp.snp import compute_snp

    taps = pruning_taps(model, settings.scope)
    if settings.structured_fraction is not None:
        taps += [t for t in structured_taps(model) if t not in taps]
    result = compute_snp(
        model,
        snp_train,
        snp_validation,
        taps=taps,
        theta=settings.theta,
        seed=settings.seed,
        label_names=label_names,
        verbose=verbose,
        **settings.readout,
    )
    return result, connection_masks(
        model, result, settings.theta, settings.scope
    )


def _clone(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def evaluate(
    model, masks, train_data, test_data, settings, *, snp_result=None, verbose=0
):
    """Scores every row on the test split (see the module docstring).

    Returns:
        `{"hits": {row: (n,) bool}, "records": {row: fine-tune record},
        "masks": {method: masks}, "models": {"andc": ..., "structured":
        ...}}`; the models are the masked, fine-tuned ones.
    """
    tune = settings.fine_tune
    all_masks = {
        m: control_masks(model, masks, m, settings.seed)
        for m in sweep_lib.METHODS
    }
    if settings.structured_fraction is not None:
        all_masks["structured"] = structured_masks(
            model, snp_result, settings.structured_fraction, settings.theta
        )
    steps = Steps("prune", total=2 + 1 + len(all_masks))
    steps.start("scoring the unpruned model")
    hits = {"unpruned": correctness(model, test_data)}
    steps.done("accuracy %.4f", hits["unpruned"].mean())
    steps.start("scoring ANDC right after masking")
    andc = prune(model, masks=masks)
    hits["andc_masked"] = correctness(andc, test_data)
    steps.done("accuracy %.4f", hits["andc_masked"].mean())
    records, models = {}, {}
    for name in ("unpruned", *all_masks):
        steps.start(f"fine-tuning {name}")
        tuned = (
            _clone(model)
            if name == "unpruned"
            else (
                andc if name == "andc" else prune(model, masks=all_masks[name])
            )
        )
        records[name] = fine_tune(tuned, train_data, tune, verbose=verbose)
        hits[f"{name}_fine_tuned"] = correctness(tuned, test_data)
        steps.done("accuracy %.4f", hits[f"{name}_fine_tuned"].mean())
        if name in ("andc", "structured"):
            models[name] = tuned
    return {
        "hits": hits,
        "records": records,
        "masks": all_masks,
        "models": models,
    }


def _max_difference(a, b, images):
    return float(
        np.abs(
            keras.ops.convert_to_numpy(a.predict_on_batch(images))
            - keras.ops.convert_to_numpy(b.predict_on_batch(images))
        ).max()
    )


def _layer_table(model, all_masks, small):
    masks = all_masks["andc"]
    table = {}
    for name, mask in masks.items():
        kept = int(np.count_nonzero(mask))
        random = all_masks["random"][name]
        table[name] = {
            "kept": kept,
            "total": int(mask.size),
            "dilution": 1.0 - kept / mask.size,
            "kept_per_node": np.asarray(mask).sum(axis=1).tolist(),
            "random_kept": int(np.count_nonzero(random)),
            "random_overlap": (
                float((random & mask).sum() / kept) if kept else None
            ),
            "magnitude_kept": int(
                np.count_nonzero(all_masks["magnitude"][name])
            ),
        }
    for layer in model.layers:
        if not layer.weights:
            continue
        new = small.get_layer(layer.name)
        if layer.count_params() != new.count_params() or layer.name in masks:
            entry = table.setdefault(layer.name, {})
            entry["params_before"] = int(layer.count_params())
            entry["params_after"] = int(new.count_params())
    return table


def summarise(model, masks, evaluation, settings, small, removed, difference):
    """The `pruning.json` dictionary of one stage (sizes added by
    `write`)."""
    hits = evaluation["hits"]
    results = {name: float(h.mean()) for name, h in hits.items()}
    rows = dict(ROWS)
    if "structured_fine_tuned" in hits:
        rows[STRUCTURED_ROW[0]] = STRUCTURED_ROW[1]
    by_scope = dilution_by_scope(masks)
    kept = sum(int(np.count_nonzero(m)) for m in masks.values())
    total = sum(int(m.size) for m in masks.values())
    records = evaluation["records"]
    first = next(iter(records.values()))

    def sparsity(name):
        if name.startswith("unpruned"):
            return 0.0
        if name.startswith("structured"):
            return _dilution(evaluation["masks"]["structured"])
        return by_scope["all"]

    return {
        "scope": scope_name(settings.scope),
        "theta": settings.theta,
        "masks_from": "validation",
        "scored_on": "test",
        "fine_tune": {
            **dataclasses.asdict(settings.fine_tune),
            "record": first,
            "identical_for_all_rows": all(r == first for r in records.values()),
            "rows": sorted(f"{n}_fine_tuned" for n in records),
        },
        "random_control": "curveball trades: per input and per output "
        "node the ANDC counts",
        "accuracy": results,
        "accuracy_table": [
            {
                "name": name,
                "description": rows[name],
                "accuracy": results[name],
                "sparsity": sparsity(name),
            }
            for name in rows
        ],
        "kept_connections": kept,
        "prunable_connections": total,
        "dilution": by_scope["all"],
        "dilution_by_scope": by_scope,
        "layers": _layer_table(model, evaluation["masks"], small),
        "params": {
            "before": int(model.count_params()),
            "nonzero_after_masking": int(model.count_params() - total + kept),
            "after": int(small.count_params()),
        },
        "flops": {
            "before": count_flops(model),
            "masked_sparse": count_flops(
                evaluation["models"]["andc"], sparse=True
            ),
            "after": count_flops(small),
        },
        "shrink": {"removed": removed, "max_abs_difference": difference},
    }


def _dilution(masks):
    total = sum(int(m.size) for m in masks.values())
    return 1.0 - sum(int(np.count_nonzero(m)) for m in masks.values()) / total


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
        plain = _clone(model)
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
    head = {k: v for k, v in summary.items() if k != "layers"}
    head["notes"] = DETAIL_NOTES
    write_json(os.path.join(out_dir, "pruning.json"), head)
    write_json(
        os.path.join(out_dir, "pruning_detail.json"),
        {"layers": summary["layers"]},
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
    test_batches = (
        test_data if hasattr(test_data, "element_spec") else list(test_data)
    )
    evaluation = evaluate(
        model,
        masks,
        train_data,
        test_batches,
        settings,
        snp_result=snp_result,
        verbose=verbose,
    )
    images = keras.ops.convert_to_numpy(next(iter(test_batches))[0])
    andc = evaluation["models"]["andc"]
    small, removed = shrink(andc, return_report=True)
    difference = _max_difference(andc, small, images)
    summary = summarise(
        model, masks, evaluation, settings, small, removed, difference
    )
    structured_small = None
    if "structured" in evaluation["models"]:
        masked = evaluation["models"]["structured"]
        structured_small, removed = shrink(masked, return_report=True)
        summary["structured"] = {
            "fraction": settings.structured_fraction,
            "removed": removed,
            "params_after": int(structured_small.count_params()),
            "flops_after": count_flops(structured_small),
            "max_abs_difference": _max_difference(
                masked, structured_small, images
            ),
        }
    return write(
        model,
        small,
        summary,
        evaluation["hits"],
        out_dir,
        export_fn=export_fn,
        compress=settings.compress,
        structured=structured_small,
        log_dir=log_dir,
    )


def settings_from_config(config):
    """`PruneSettings` of a resolved `RunConfig`: the fine-tune is the
    run's recipe; its length `config.fine_tune_epochs`, or about a tenth of
    the training epochs when that is None."""
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

    settings = settings or settings_from_config(ctx.config)
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

    settings = settings or settings_from_config(ctx.config)
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
    test = (
        ctx.splits.test
        if hasattr(ctx.splits.test, "element_spec")
        else list(ctx.splits.test)
    )
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
