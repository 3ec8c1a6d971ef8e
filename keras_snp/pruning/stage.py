"""One pruning stage's algorithm: ANDC masks, the controls, their scores.

METHOD.md section 4, without files (`keras_snp.run.prune_stage` reads
the run folder, calls these, and writes what they return):

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
   units and heads, weakest by SNP). Returns an `Evaluation`.
3. `prune_and_evaluate`: step 2, then the masked models shrunk
   (`shrink`) and measured; returns a `PruningResult`, whose `to_dict()`
   is `pruning.json`'s dictionary (before the run adds file sizes).
"""

import keras
import numpy as np

from keras_snp.models.flops import count_flops
from keras_snp.pruning import sweep as sweep_lib
from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.andc import prune
from keras_snp.pruning.andc import pruning_taps
from keras_snp.pruning.fine_tuning import fine_tune
from keras_snp.pruning.result import Evaluation
from keras_snp.pruning.result import PruningResult
from keras_snp.pruning.scoring import correctness
from keras_snp.pruning.shrinking import kept_nodes
from keras_snp.pruning.shrinking import shrink
from keras_snp.pruning.structured import structured_masks
from keras_snp.pruning.structured import structured_taps
from keras_snp.settings import PruneSettings

__all__ = [
    "Evaluation",
    "PruneSettings",
    "PruningResult",
    "choose_masks",
    "clone",
    "evaluate",
    "evaluation_steps",
    "prune_and_evaluate",
]


def choose_masks(
    model, snp_train, snp_validation, settings, *, label_names=None, verbose=0
):
    """The ANDC masks of `settings.scope`, from validation data only.

    Readouts are trained on `snp_train`; `V` is measured on
    `snp_validation` (METHOD.md section 4). The test split is not an
    argument: mask choice cannot see it.

    Returns:
        `(snp_result, masks)`.

    Example:
    ```python
    result, masks = choose_masks(model, snp.train, snp.validation,
                                 PruneSettings(scope="readout"))
    list(masks)  # the classifier's name only
    ```
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


def clone(model):
    """A copy of `model` with its weights, uncompiled."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


class _Silent:
    def start(self, what):
        pass

    def done(self, message="", *args):
        pass


def evaluation_steps(settings):
    """How many steps `evaluate` reports: two scorings and one fine-tune
    per row (unpruned, the controls, structured when asked)."""
    structured = settings.structured_fraction is not None
    return 2 + 1 + len(sweep_lib.METHODS) + int(structured)


def evaluate(
    model,
    masks,
    train_data,
    test_data,
    settings,
    *,
    snp_result=None,
    verbose=0,
    steps=None,
):
    """Scores every row on the test split (see the module docstring).

    Args:
        model: the trained model (left unchanged).
        masks: the ANDC masks, `{layer name: bool array}`.
        train_data: the training split of the fine-tunes.
        test_data: the test split, iterable more than once.
        settings: a `PruneSettings`.
        snp_result: the validation SNP, needed by the structured row.
        verbose: the fine-tunes' verbosity.
        steps: reports each of the `evaluation_steps(settings)` steps
            (`start(what)`, `done(message, *args)`, as
            `keras_snp.run.progress.Steps`); None: silent.

    Returns:
        An `Evaluation`.
    """
    steps = steps or _Silent()
    all_masks = {
        m: sweep_lib.control_masks(model, masks, m, settings.seed)
        for m in sweep_lib.METHODS
    }
    if settings.structured_fraction is not None:
        all_masks["structured"] = structured_masks(
            model, snp_result, settings.structured_fraction, settings.theta
        )
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
        if name == "unpruned":
            tuned = clone(model)
        elif name == "andc":
            tuned = andc
        else:
            tuned = prune(model, masks=all_masks[name])
        records[name] = fine_tune(
            tuned, train_data, settings.fine_tune, verbose=verbose
        )
        hits[f"{name}_fine_tuned"] = correctness(tuned, test_data)
        steps.done("accuracy %.4f", hits[f"{name}_fine_tuned"].mean())
        if name in ("andc", "structured"):
            models[name] = tuned
    return Evaluation(
        hits=hits, records=records, masks=all_masks, models=models
    )


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


def prune_and_evaluate(
    model,
    masks,
    train_data,
    test_data,
    settings,
    *,
    snp_result=None,
    verbose=0,
    steps=None,
):
    """`evaluate`, then the masked models shrunk and measured.

    Arguments as `evaluate`'s.

    Returns:
        A `PruningResult`: the rows' accuracies and per-image hits, the
        fine-tune records, the masks, the per-layer table, parameters,
        FLOPs, and the shrunken ANDC (and structured) models.

    Example:
    ```python
    result = prune_and_evaluate(model, masks, splits.train, test_batches,
                                PruneSettings(scope="readout+ff"))
    result.accuracy["andc_fine_tuned"], result.pruned.count_params()
    ```
    """
    evaluation = evaluate(
        model,
        masks,
        train_data,
        test_data,
        settings,
        snp_result=snp_result,
        verbose=verbose,
        steps=steps,
    )
    images = keras.ops.convert_to_numpy(next(iter(test_data))[0])
    andc = evaluation.models["andc"]
    small, removed = shrink(andc, return_report=True)
    kept = sum(int(np.count_nonzero(m)) for m in masks.values())
    total = sum(int(m.size) for m in masks.values())
    result = PruningResult(
        settings=settings,
        evaluation=evaluation,
        layers=_layer_table(model, evaluation.masks, small),
        params={
            "before": int(model.count_params()),
            "nonzero_after_masking": int(model.count_params() - total + kept),
            "after": int(small.count_params()),
        },
        flops={
            "before": count_flops(model),
            "masked_sparse": count_flops(andc, sparse=True),
            "after": count_flops(small),
        },
        shrink={
            "removed": removed,
            "max_abs_difference": _max_difference(andc, small, images),
        },
        pruned=small,
        kept_nodes=kept_nodes(andc),
    )
    if "structured" in evaluation.models:
        masked = evaluation.models["structured"]
        structured_small, removed = shrink(masked, return_report=True)
        result.structured = {
            "fraction": settings.structured_fraction,
            "removed": removed,
            "params_after": int(structured_small.count_params()),
            "flops_after": count_flops(structured_small),
            "max_abs_difference": _max_difference(
                masked, structured_small, images
            ),
        }
        result.structured_pruned = structured_small
    return result
