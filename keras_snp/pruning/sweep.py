"""Dilution-accuracy curves and per-layer sensitivity of ANDC.

For each scope and each SNP threshold theta, ANDC, the random control and
magnitude pruning at the same per-layer sparsity are fine-tuned the same
way (`FineTune`) and scored on the test split: one point each on a
dilution-vs-accuracy curve. `sensitivity` masks one layer at a time with
its ANDC mask, without fine-tuning, and reports the accuracy drop.
"""

import logging

import numpy as np

from keras_snp.pruning.andc import LAYER_SCOPES
from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.andc import dilution
from keras_snp.pruning.andc import layer_scope
from keras_snp.pruning.andc import magnitude_masks
from keras_snp.pruning.andc import prune
from keras_snp.pruning.andc import random_masks
from keras_snp.pruning.fine_tuning import fine_tune
from keras_snp.pruning.scopes import DEFAULT_THETAS
from keras_snp.pruning.scopes import METHODS
from keras_snp.pruning.scopes import point_key
from keras_snp.pruning.scoring import accuracy
from keras_snp.pruning.scoring import correctness
from keras_snp.utils import check_one_of

logger = logging.getLogger(__name__)


def control_masks(model, masks, method, seed=0):
    """The masks of `method` (`andc`, `random`, `magnitude`) at the ANDC
    masks' per-layer sparsity."""
    check_one_of("method", method, METHODS)
    if method == "andc":
        return masks
    if method == "random":
        return random_masks(masks, seed=seed)
    return magnitude_masks(model, masks)


def sweep(
    model,
    snp_result,
    train_data,
    test_data,
    settings,
    *,
    scopes=LAYER_SCOPES,
    thetas=DEFAULT_THETAS,
    methods=METHODS,
    seed=0,
    verbose=0,
    hits=None,
):
    """Test accuracy against dilution, per scope, theta and method.

    Args:
        model: the trained CCT (left unchanged).
        snp_result: its SNP on the pruning data (validation), holding the
            taps of `pruning_taps(model, scopes)`.
        train_data: the training split (for the fine-tunes).
        test_data: the test split (accuracy only).
        settings: the `FineTune` every point goes through.
        scopes: layer scopes (or combinations) to sweep.
        thetas: SNP thresholds.
        methods: any of `METHODS`.
        seed: seed of the random control.
        verbose: `fit` verbosity.
        hits: a dict that receives each point's per-image test
            correctness (`(n,)` bool) under `"scope|theta|method"`, so
            the points can be compared over the same images.

    Returns:
        A list of rows `{scope, theta, method, dilution, accuracy}`.

    Example:
    ```python
    rows = sweep(model, result, splits.train, splits.test,
                 FineTune(epochs=1), thetas=(0.2, 0.4))
    ```
    """
    for theta in thetas:
        if not 0 < theta < 1:
            raise ValueError(
                f"`thetas` must lie in (0, 1). Received: thetas={list(thetas)}"
            )
    rows = []
    for scope in scopes:
        for theta in thetas:
            masks = connection_masks(model, snp_result, theta, scope)
            diluted = dilution(masks)
            for method in methods:
                pruned = prune(
                    model, masks=control_masks(model, masks, method, seed)
                )
                fine_tune(pruned, train_data, settings, verbose=verbose)
                correct = correctness(pruned, test_data)
                if hits is not None:
                    hits[point_key(scope, theta, method)] = correct
                rows.append(
                    {
                        "scope": scope,
                        "theta": float(theta),
                        "method": method,
                        "dilution": diluted,
                        "accuracy": float(correct.mean()),
                    }
                )
                logger.info(
                    "sweep %s theta %.2f %s: dilution %.3f, accuracy %.4f",
                    scope,
                    theta,
                    method,
                    diluted,
                    rows[-1]["accuracy"],
                )
                del pruned
    return rows


def sensitivity(
    model, snp_result, test_data, theta=None, scope="all", baseline=None
):
    """Accuracy drop when one layer at a time gets its ANDC mask.

    No fine-tune. Returns rows `{layer, scope, dilution, accuracy, drop}`
    in model order (`drop` = unpruned accuracy - masked accuracy).

    Example:
    ```python
    table = sensitivity(model, result, splits.test, theta=0.3)
    ```
    """
    masks = connection_masks(model, snp_result, theta, scope)
    base = accuracy(model, test_data) if baseline is None else baseline
    rows = []
    for name, mask in masks.items():
        pruned = prune(model, masks={name: mask})
        score = accuracy(pruned, test_data)
        rows.append(
            {
                "layer": name,
                "scope": layer_scope(name),
                "dilution": 1.0 - float(np.mean(mask)),
                "accuracy": score,
                "drop": base - score,
            }
        )
        del pruned
    return rows


def plot_methods(ax, rows, scope):
    """Draws on `ax` a line per method of `rows` (sweep rows) in `scope`:
    accuracy against dilution."""
    for method, marker in zip(METHODS, "osd"):
        points = sorted(
            (r["dilution"], r["accuracy"])
            for r in rows
            if r["scope"] == scope and r["method"] == method
        )
        if points:
            x, y = zip(*points)
            ax.plot(x, y, marker=marker, label=method)


def sweep_figure(rows, path, references=None):
    """One panel per scope: accuracy against dilution, a line per method.

    `references` maps a label (e.g. `unpruned_fine_tuned`) to an accuracy
    drawn as a horizontal line. Writes a PNG; returns its path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scopes = list(dict.fromkeys(r["scope"] for r in rows))
    fig, axes = plt.subplots(
        1,
        max(1, len(scopes)),
        squeeze=False,
        figsize=(4.2 * max(1, len(scopes)), 3.6),
    )
    for ax, scope in zip(axes[0], scopes):
        plot_methods(ax, rows, scope)
        for (label, value), style in zip(
            (references or {}).items(), ("--", ":", "-.")
        ):
            ax.axhline(value, color="grey", linestyle=style, label=label)
        ax.set_title(f"scope {scope}")
        ax.set_xlabel("dilution (share of connections cut)")
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
