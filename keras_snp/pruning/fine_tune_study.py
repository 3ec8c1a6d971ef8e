"""Claim 3 across fine-tune lengths and seeds, and the lab's classifier mask.

The prune stage gives every row one fine-tune (`FineTune`: a tenth of the
training epochs by default). Whether ANDC "does not affect accuracy" may
depend on how long the masked model is allowed to recover, and one
fine-tune seed says nothing of the spread between seeds. `study` runs each
row at each fine-tune length with each seed: per point, the masked (or
unpruned) copy of the trained model, `fine_tune` with the stage's settings
but that `epochs` and `seed`, and the per-image test correctness.

Rows (`ROWS`):
- `unpruned`: the trained model, fine-tuned the same way (the reference);
- `andc`: the stage's ANDC masks (masks from the validation SNP);
- `magnitude`: largest |w| per layer at the ANDC sparsity;
- `andc_lab_classifier`: the lab's classifier mask: the classifier pruned
  by its *own* clusters, `V` computed with the classifier's kernel as the
  readout (`classifier_own_masks`), where ours takes the classifier's
  mask from a separately solved readout of the same tap. Every other
  masked layer keeps the stage's ANDC mask, so the two rows differ in the
  classifier only.

Points are keyed `row|epochs|seed` (`point_key`); `study` skips points it
is given as done, so an interrupted study continues where it stopped.
"""

import dataclasses

import keras
import numpy as np

from keras_snp.pruning.andc import _kernel_numpy
from keras_snp.pruning.andc import layer_sides
from keras_snp.pruning.andc import magnitude_masks
from keras_snp.pruning.andc import prune
from keras_snp.pruning.fine_tuning import fine_tune
from keras_snp.pruning.scoring import correctness
from keras_snp.pruning.stage import clone
from keras_snp.snp.clusters import diagonal_mask
from keras_snp.snp.fields import SNPAccumulator
from keras_snp.snp.readout import int_labels
from keras_snp.snp.taps import resolve_taps
from keras_snp.snp.taps import tap_model

ROWS = ("unpruned", "andc", "magnitude", "andc_lab_classifier")
DEFAULT_EPOCHS = (1, 5, 20)
DEFAULT_SEEDS = (0, 1, 2)
#: What `keras_snp.run.fine_tune_study` writes into `<run>/pruned/`.
STUDY_JSON = "fine_tunes.json"
STUDY_PREDICTIONS = "fine_tune_predictions.npz"


def point_key(row, epochs, seed):
    """The key of one point's per-image hits: `"row|epochs|seed"`.

    Example:
    >>> point_key("andc", 5, 1)
    'andc|5|1'
    """
    return f"{row}|{int(epochs)}|{int(seed)}"


def parse_key(key):
    """`(row, epochs, seed)` of a `point_key`."""
    row, epochs, seed = key.split("|")
    return row, int(epochs), int(seed)


def classifier_own_V(model, validation_data):
    """`V` of the classifier's input nodes with the classifier's own
    kernel as the readout: `V[d, i, c]` = mean over validation images of
    label i of `a_d(x) * kernel[d, c]` (bias-free, as every readout).

    Returns:
        `(classifier layer name, (n, K, K) float32 V)`.
    """
    sides = layer_sides(model, "readout")
    if len(sides) != 1:
        raise ValueError(
            f"Expected one classifier layer; the model has {sorted(sides)}."
        )
    ((name, (tap, _)),) = sides.items()
    kernel = _kernel_numpy(model.get_layer(name))  # (n, K)
    features = tap_model(model, resolve_taps(model, [tap]))
    accumulator = SNPAccumulator(kernel.T[:, None, :])
    seen = 0
    for images, labels in validation_data:
        activations = features(images, training=False)
        accumulator.update(
            activations, int_labels(keras.ops.convert_to_numpy(labels))
        )
        seen += len(labels)
    if not seen:
        raise ValueError("`validation_data` yielded no batch.")
    return name, accumulator.result()


def classifier_own_masks(model, validation_data, theta):
    """The lab's classifier mask: `{classifier name: (n, K) bool}`,
    keeping `(d, c)` iff `c` is in node d's diagonal set measured with the
    classifier's own kernel (`classifier_own_V`)."""
    name, V = classifier_own_V(model, validation_data)
    return {name: diagonal_mask(V, theta)}


def row_masks(model, masks, own_classifier=None):
    """`{row: masks or None}` of `ROWS` (None: unpruned). The
    `andc_lab_classifier` row is present when `own_classifier` is given."""
    rows = {
        "unpruned": None,
        "andc": masks,
        "magnitude": magnitude_masks(model, masks),
    }
    if own_classifier is not None:
        rows["andc_lab_classifier"] = {**masks, **own_classifier}
    return rows


def study(
    model,
    rows,
    train_data,
    test_data,
    fine_tune_settings,
    *,
    epochs=DEFAULT_EPOCHS,
    seeds=DEFAULT_SEEDS,
    done=(),
    on_point=None,
    verbose=0,
):
    """Fine-tunes every row at every length with every seed; scores on test.

    Args:
        model: the trained model (left unchanged).
        rows: `{row: masks or None}` (`row_masks`).
        train_data: the training split of the fine-tunes.
        test_data: the test split, iterable more than once.
        fine_tune_settings: the stage's `FineTune`; `epochs` and `seed`
            are replaced per point.
        epochs: fine-tune lengths, run shortest first.
        seeds: fine-tune seeds.
        done: point keys to skip (already measured).
        on_point: called `on_point(key, hits, record)` after every point.
        verbose: the fine-tunes' verbosity.

    Returns:
        `{point key: (n_test,) bool hits}` of the points run here.
    """
    out = {}
    for length in sorted(epochs):
        for seed in seeds:
            for row, masks in rows.items():
                key = point_key(row, length, seed)
                if key in done:
                    continue
                tuned = (
                    clone(model) if masks is None else prune(model, masks=masks)
                )
                settings = dataclasses.replace(
                    fine_tune_settings, epochs=int(length), seed=int(seed)
                )
                record = fine_tune(tuned, train_data, settings, verbose=verbose)
                hits = correctness(tuned, test_data)
                out[key] = hits
                if on_point is not None:
                    on_point(key, hits, record)
    return out


def summarise(hits):
    """Per row and length: mean accuracy over seeds, the seeds' min and
    max, and the seeds run. `hits`: `{point key: bool hits}`.

    Example:
    >>> h = {"andc|1|0": np.array([1, 0]), "andc|1|1": np.array([1, 1])}
    >>> summarise(h)["andc"][1]["mean"]
    0.75
    """
    table = {}
    for key, value in hits.items():
        row, length, seed = parse_key(key)
        table.setdefault(row, {}).setdefault(length, {})[seed] = float(
            np.mean(value)
        )
    return {
        row: {
            length: {
                "mean": float(np.mean(list(by_seed.values()))),
                "min": min(by_seed.values()),
                "max": max(by_seed.values()),
                "seeds": sorted(by_seed),
            }
            for length, by_seed in sorted(lengths.items())
        }
        for row, lengths in table.items()
    }


def seed_mean_hits(hits, row, length):
    """`(n_test,)` float: each test image's hit rate over the seeds of one
    row and length (the paired unit of the report's bootstrap), and the
    seeds it averages; `(None, [])` when the point was not run."""
    chosen = {
        parse_key(k)[2]: v
        for k, v in hits.items()
        if parse_key(k)[:2] == (row, int(length))
    }
    if not chosen:
        return None, []
    seeds = sorted(chosen)
    return np.mean([chosen[s] for s in seeds], axis=0), seeds
