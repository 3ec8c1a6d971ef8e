"""The fine-tune study of a pruned run folder (`keras-snp prune RUN_DIR
--fine-tune-study`): `keras_snp.pruning.fine_tune_study` on the run's
model, masks and splits, written into `<run>/pruned/`:

- `fine_tunes.json`: the settings (the stage's fine-tune; lengths; seeds),
  each row's dilution, every point's accuracy and seconds, and the
  per-row summary (mean, min and max over seeds);
- `fine_tune_predictions.npz`: every point's per-image test hits (keys
  `row|epochs|seed`), which the report pairs row against `unpruned`.

Both are rewritten after every point, so an interrupted study keeps what
it measured and a later call with the same fine-tune settings runs only
the missing points. The masks, scope, theta and fine-tune settings are
the prune stage's (`pruned/pruning.json`, its validation SNP in
`pruned/snp_validation`); the stage is not run again.
"""

import dataclasses
import os
import time

import numpy as np

from keras_snp.pruning import fine_tune_study as study_lib
from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.andc import dilution
from keras_snp.pruning.fine_tuning import FineTune
from keras_snp.pruning.scopes import parse_scope
from keras_snp.utils import UsageError
from keras_snp.utils import atomic_path
from keras_snp.utils import load_npz
from keras_snp.utils import read_json
from keras_snp.utils import write_json


def _comparable(tune):
    """The fine-tune settings a point depends on, but its length and seed."""
    return {k: v for k, v in tune.items() if k not in ("epochs", "seed")}


def _previous(out_dir, tune):
    """The hits and point records measured before with the same settings."""
    path = os.path.join(out_dir, study_lib.STUDY_JSON)
    hits_path = os.path.join(out_dir, study_lib.STUDY_PREDICTIONS)
    if not (os.path.isfile(path) and os.path.isfile(hits_path)):
        return {}, {}
    state = read_json(path)
    if _comparable(state.get("fine_tune", {})) != _comparable(tune):
        return {}, {}
    return load_npz(hits_path), state.get("points", {})


def run_fine_tune_study(
    run_dir,
    *,
    epochs=study_lib.DEFAULT_EPOCHS,
    seeds=study_lib.DEFAULT_SEEDS,
    fine_tune_steps=None,
    unsafe=False,
    verbose=1,
):
    """Runs the study on a run folder whose prune stage is done.

    Returns:
        The `fine_tunes.json` dictionary.
    """
    from keras_snp.run.prune_run import load_context
    from keras_snp.run.prune_stage import reiterable_test_split
    from keras_snp.snp import SNPResult

    out_dir = os.path.join(run_dir, "pruned")
    snp_dir = os.path.join(out_dir, "snp_validation")
    if not os.path.isfile(os.path.join(snp_dir, "snp.npz")):
        raise UsageError(
            f"{run_dir} has no pruned/snp_validation: run the prune stage "
            "first (`keras-snp prune RUN_DIR`)."
        )
    ctx = load_context(run_dir, unsafe=unsafe, verbose=verbose)
    stage = read_json(os.path.join(out_dir, "pruning.json"))
    fields = {f.name for f in dataclasses.fields(FineTune)}
    tune = FineTune(
        **{k: v for k, v in stage["fine_tune"].items() if k in fields}
    )
    if fine_tune_steps is not None:
        tune = dataclasses.replace(tune, steps_per_epoch=fine_tune_steps)
    scope, theta = stage["scope"], stage["theta"]
    model = ctx.model
    masks = connection_masks(model, SNPResult.load(snp_dir), theta, scope)
    own = None
    if "readout" in parse_scope(scope):
        own = study_lib.classifier_own_masks(model, ctx.snp_validation(), theta)
    rows = study_lib.row_masks(model, masks, own)
    tune_dict = dataclasses.asdict(tune)
    hits, points = _previous(out_dir, tune_dict)
    state = {
        "fine_tune": tune_dict,
        "epochs": sorted(int(e) for e in epochs),
        "seeds": [int(s) for s in seeds],
        "scope": scope,
        "theta": theta,
        "rows": {
            row: {"dilution": dilution(m) if m else 0.0}
            for row, m in rows.items()
        },
        "masks_from": "validation (pruned/snp_validation); "
        "andc_lab_classifier: the classifier's own kernel on validation",
        "scored_on": "test",
        "predictions": study_lib.STUDY_PREDICTIONS,
        "points": points,
    }
    if own is not None:
        ((name, mask),) = own.items()
        state["rows"]["andc_lab_classifier"]["classifier_dilution"] = float(
            1 - mask.mean()
        )
        state["rows"]["andc"]["classifier_dilution"] = float(
            1 - masks[name].mean()
        )
        state["classifier_mask_agreement"] = float((mask == masks[name]).mean())
    test = reiterable_test_split(ctx.splits.test)
    started = [time.time()]

    def save(key, point_hits, record):
        hits[key] = np.asarray(point_hits, bool)
        state["points"][key] = {
            "accuracy": float(np.mean(point_hits)),
            "seconds": round(time.time() - started[0], 1),
            "steps": record["steps"],
        }
        started[0] = time.time()
        _write(out_dir, state, hits)
        if verbose:
            print(f"fine-tune study: {key}: accuracy {np.mean(point_hits):.4f}")

    try:
        study_lib.study(
            model,
            rows,
            ctx.splits.train,
            test,
            tune,
            epochs=epochs,
            seeds=seeds,
            done=set(hits),
            on_point=save,
            verbose=0,
        )
    finally:  # Ctrl-C too: TensorBoard shows the points measured so far
        _write(out_dir, state, hits)
        log_study(state, run_dir)
    return state


def log_study(state, run_dir):
    """TensorBoard: per row, the mean accuracy over seeds at step = the
    fine-tune length (`fine_tune_study/<row>`), and the table as text, in
    `<run>/logs/pruning/fine_tune_study`."""
    _log(state, os.path.join(run_dir, "logs", "pruning", "fine_tune_study"))


def _log(state, log_dir):
    from keras_snp.run import tensorboard

    if not tensorboard.available():
        return
    lines = []
    for row, lengths in state["summary"].items():
        for length, entry in lengths.items():
            tensorboard.write_scalars(
                log_dir, {f"fine_tune_study/{row}": entry["mean"]}, int(length)
            )
            lines.append(
                [
                    row,
                    length,
                    len(entry["seeds"]),
                    f"{entry['mean']:.4f}",
                    f"[{entry['min']:.4f}, {entry['max']:.4f}]",
                ]
            )
    tensorboard.write_text(
        log_dir,
        "fine_tune_study",
        tensorboard.markdown_table(
            ["row", "epochs", "seeds", "accuracy", "seed band"], lines
        ),
    )


def _write(out_dir, state, hits):
    state["summary"] = study_lib.summarise(hits)
    with atomic_path(os.path.join(out_dir, study_lib.STUDY_PREDICTIONS)) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **hits)
    write_json(os.path.join(out_dir, study_lib.STUDY_JSON), state)
