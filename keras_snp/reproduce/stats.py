"""Statistics of the reproduction report, in plain numpy.

Every claim of the paper is answered with a number and its uncertainty:
Spearman rank correlation with depth, a least-squares trend slope, and
percentile bootstrap confidence intervals (over test images or over nodes).
"""

import numpy as np
import scipy.stats

from keras_snp.snp.clusters import node_table  # noqa: F401 (re-export)
from keras_snp.snp.clusters import slope
from keras_snp.snp.clusters import table_stats

DEFAULT_RESAMPLES = 1000
DEFAULT_LEVEL = 0.95


def spearman(x, y):
    """Spearman rank correlation of two sequences (NaN when undefined).

    The Pearson correlation of the average ranks; NaN when either side is
    constant, has fewer than two values, or holds NaN.

    Example:
    >>> spearman([1, 2, 3, 4], [10, 20, 15, 40])
    0.8
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            "`x` and `y` must be 1-D and of the same length. "
            f"Received: x.shape={x.shape}, y.shape={y.shape}"
        )
    if (
        len(x) < 2
        or np.isnan(x).any()
        or np.isnan(y).any()
        or np.ptp(x) == 0
        or np.ptp(y) == 0
    ):
        return float("nan")
    return float(round(scipy.stats.spearmanr(x, y).statistic, 12))


def percentile_ci(samples, level=DEFAULT_LEVEL):
    """`(low, high)` percentile interval of bootstrap samples (NaN-safe)."""
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[np.isfinite(samples)]
    if not len(samples):
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(samples, [tail, 100 - tail])
    return float(low), float(high)


def bootstrap_accuracy_difference(
    correct_a,
    correct_b,
    resamples=DEFAULT_RESAMPLES,
    level=DEFAULT_LEVEL,
    seed=0,
):
    """Paired bootstrap over test images of `acc(a) - acc(b)`.

    Args:
        correct_a, correct_b: `(n,)` bool correctness of two models on the
            same test images, in the same order.
        resamples: bootstrap resamples.
        level: confidence level of the percentile interval.
        seed: seed of the resampling.

    Returns:
        `{"difference", "low", "high", "resamples", "n"}`.
    """
    a = np.asarray(correct_a, dtype=np.float64)
    b = np.asarray(correct_b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or not len(a):
        raise ValueError(
            "`correct_a` and `correct_b` must be non-empty 1-D arrays of "
            f"one length. Received: shapes {a.shape} and {b.shape}"
        )
    rng = np.random.default_rng(seed)
    diff = a - b
    samples = np.empty(resamples)
    for i in range(resamples):
        samples[i] = diff[rng.integers(0, len(diff), len(diff))].mean()
    low, high = percentile_ci(samples, level)
    return {
        "difference": float(diff.mean()),
        "low": low,
        "high": high,
        "resamples": int(resamples),
        "n": int(len(a)),
    }


def grouped(function, depths, values, groups=None):
    """`function(depths, values)`, or its mean over `groups` (computed
    within each group: e.g. per tap kind, so that kinds with different
    accuracy levels do not blur the depth ranks)."""
    if groups is None:
        return function(depths, values)
    depths, values = np.asarray(depths), np.asarray(values)
    groups = np.asarray(groups)
    results = [
        function(depths[groups == g], values[groups == g])
        for g in dict.fromkeys(groups.tolist())
    ]
    results = [r for r in results if np.isfinite(r)]
    return float(np.mean(results)) if results else float("nan")


def depth_correlation_accuracy(
    depths,
    accuracies,
    n_test,
    resamples=DEFAULT_RESAMPLES,
    level=DEFAULT_LEVEL,
    seed=0,
    groups=None,
    seed_accuracies=None,
):
    """Spearman(depth, readout accuracy) with a bootstrap CI over images.

    Each tap's accuracy is resampled as `Binomial(n_test, acc) / n_test`
    (the bootstrap over the `n_test` test images of one readout), taps
    independently (which widens the interval: the real taps share their
    images).

    With `groups`, rho and slope are the means over groups of the
    within-group values (see `grouped`).

    With `seed_accuracies` (`(taps, seeds)`: each tap's accuracy from
    readouts solved with different augmentation seeds), the interval also
    holds the readouts' own variance: each resample first draws one seed
    (the same for every tap: one seed's readouts share their views), then
    the images; rho and slope are those of the mean over seeds.

    Returns:
        `{"rho", "low", "high", "slope", "slope_low", "slope_high",
        "p_positive"}`; `p_positive` is the share of resamples whose rho
        is > 0.
    """
    depths = np.asarray(depths, dtype=np.float64)
    accuracies = np.asarray(accuracies, dtype=np.float64)
    if seed_accuracies is not None:
        seed_accuracies = np.asarray(seed_accuracies, dtype=np.float64)
        accuracies = seed_accuracies.mean(axis=1)
    rng = np.random.default_rng(seed)
    rhos, slopes = np.empty(resamples), np.empty(resamples)
    for i in range(resamples):
        centre = accuracies
        if seed_accuracies is not None:
            centre = seed_accuracies[:, rng.integers(seed_accuracies.shape[1])]
        sample = rng.binomial(int(n_test), centre) / n_test
        rhos[i] = grouped(spearman, depths, sample, groups)
        slopes[i] = grouped(slope, depths, sample, groups)
    low, high = percentile_ci(rhos, level)
    slope_low, slope_high = percentile_ci(slopes, level)
    finite = rhos[np.isfinite(rhos)]
    return {
        "rho": grouped(spearman, depths, accuracies, groups),
        "low": low,
        "high": high,
        "slope": grouped(slope, depths, accuracies, groups),
        "slope_low": slope_low,
        "slope_high": slope_high,
        "p_positive": float((finite > 0).mean())
        if len(finite)
        else float("nan"),
    }


TREND_STATS = (
    "mean_diag",
    "mean_noise",
    "snr",
    "snr_labels",
    "empty_fraction",
)


def depth_trend_over_nodes(
    tables,
    depths,
    resamples=DEFAULT_RESAMPLES,
    level=DEFAULT_LEVEL,
    seed=0,
    names=TREND_STATS,
):
    """Trend of each tap statistic with depth, CI by bootstrap over nodes.

    Each resample draws every tap's nodes with replacement (same count),
    recomputes the tap statistics, then the Spearman correlation and the
    least-squares slope of each statistic on depth.

    Args:
        tables: one `node_table` per tap, in the order of `depths`.
        depths: depth of each tap (e.g. encoder index).

    Returns:
        `{stat: {"values", "rho", "rho_low", "rho_high", "slope",
        "slope_low", "slope_high"}}`.
    """
    rng = np.random.default_rng(seed)
    observed = [table_stats(t) for t in tables]
    boot = {name: np.empty((resamples, 2)) for name in names}
    for i in range(resamples):
        sample = [
            table_stats(t, rng.integers(0, len(t["diag"]), len(t["diag"])))
            for t in tables
        ]
        for name in names:
            values = [s[name] for s in sample]
            boot[name][i] = (spearman(depths, values), slope(depths, values))
    out = {}
    for name in names:
        values = [s[name] for s in observed]
        rho_low, rho_high = percentile_ci(boot[name][:, 0], level)
        slope_low, slope_high = percentile_ci(boot[name][:, 1], level)
        out[name] = {
            "values": values,
            "rho": spearman(depths, values),
            "rho_low": rho_low,
            "rho_high": rho_high,
            "slope": slope(depths, values),
            "slope_low": slope_low,
            "slope_high": slope_high,
        }
    return out


def sign_verdict(low, high, expected):
    """`"reproduced"` when the CI lies on the `expected` side of 0
    (`"positive"` / `"negative"`), `"not reproduced"` when it lies on the
    other side, else `"inconclusive at this budget"`."""
    if not (np.isfinite(low) and np.isfinite(high)):
        return "inconclusive at this budget"
    sign = 1 if expected == "positive" else -1
    if sign * low > 0 and sign * high > 0:
        return "reproduced"
    if sign * low < 0 and sign * high < 0:
        return "not reproduced"
    return "inconclusive at this budget"
