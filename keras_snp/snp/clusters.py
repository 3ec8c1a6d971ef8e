"""SNP post-processing in plain numpy: METHOD.md section 2, steps 5 to 9.

A node's SNP matrix `V` is K x K (rows: true label, columns: output label).
Everything here works on matrices already computed, on any backend.
"""

import dataclasses

import numpy as np

from keras_snp.constants import DEFAULT_THETA


def check_theta(theta):
    if not 0 < theta < 1:
        raise ValueError(
            f"`theta` must be in (0, 1), e.g. 0.3. Received: theta={theta}"
        )
    return float(theta)


def binarize(V, theta=DEFAULT_THETA):
    """`B = V / max(V) > theta` for one `(K, K)` or many `(n, K, K)` matrices.

    A matrix whose maximum is not positive is silent: all False.
    """
    check_theta(theta)
    V = np.asarray(V, dtype=np.float64)
    peak = V.max(axis=(-2, -1), keepdims=True)
    positive = peak > 0
    scaled = np.divide(V, peak, out=np.zeros_like(V), where=positive)
    return (scaled > theta) & positive


def diagonal_mask(V, theta=DEFAULT_THETA):
    """`(..., K)` bool: label `j` is in `D_d` when `B_d[j, j]`."""
    return np.diagonal(binarize(V, theta), axis1=-2, axis2=-1).copy()


def diagonal_set(V, theta=DEFAULT_THETA):
    """The diagonal labels `D_d` of one `(K, K)` matrix, ascending."""
    return np.flatnonzero(diagonal_mask(V, theta))


def greedy_clusters(B):
    """Greedy clusters of a binary matrix `B` (METHOD.md step 7).

    In ascending label order, open a cluster with the first unassigned
    diagonal label, add each later unassigned diagonal label `j` when `B` is
    1 on every ordered pair of the cluster and `j`; repeat.
    """
    B = np.asarray(B, dtype=bool)
    remaining = [int(j) for j in np.flatnonzero(np.diagonal(B))]
    clusters = []
    while remaining:
        cluster = [remaining.pop(0)]
        for j in list(remaining):
            if all(B[i, j] and B[j, i] for i in cluster):
                cluster.append(j)
                remaining.remove(j)
        clusters.append(cluster)
    return clusters


@dataclasses.dataclass(frozen=True)
class NodeStats:
    """What one node's matrix says: labels, clusters and noise."""

    diag: tuple
    clusters: tuple
    noise: int
    silent: bool

    @property
    def active(self):
        return len(self.diag) > 0

    @property
    def signal(self):
        return sum(len(c) ** 2 for c in self.clusters)


def node_stats(V, theta=DEFAULT_THETA):
    """`NodeStats` of one `(K, K)` matrix (METHOD.md steps 5 to 8)."""
    V = np.asarray(V)
    B = binarize(V, theta)
    clusters = greedy_clusters(B)
    noise = int(B.sum()) - sum(len(c) ** 2 for c in clusters)
    return NodeStats(
        diag=tuple(int(j) for j in np.flatnonzero(np.diagonal(B))),
        clusters=tuple(tuple(c) for c in clusters),
        noise=noise,
        silent=bool(V.max() <= 0),
    )


def node_table(V, theta=DEFAULT_THETA):
    """Per-node arrays of `(n, K, K)` matrices: `diag` (|D_d|), `clusters`
    (count), `signal` (sum of |S|^2), `noise`, and `sizes` (cluster sizes,
    one array per node)."""
    rows = [node_stats(v, theta) for v in np.asarray(V)]
    return {
        "diag": np.array([len(s.diag) for s in rows], np.float64),
        "clusters": np.array([len(s.clusters) for s in rows], np.float64),
        "signal": np.array([s.signal for s in rows], np.float64),
        "noise": np.array([s.noise for s in rows], np.float64),
        "sizes": [np.array([len(c) for c in s.clusters]) for s in rows],
    }


def table_stats(table, index=None):
    """The per-tap statistics of METHOD.md step 9 over the nodes `index`
    (all by default; repeats allowed, as in a bootstrap) of a `node_table`.

    Means run over active nodes (non-empty diagonal set) unless the key
    ends in `_all`. Statistics with no active node are NaN; a ratio over
    zero noise is inf (NaN when its numerator is 0 too).
    """
    index = (
        np.arange(len(table["diag"])) if index is None else np.asarray(index)
    )
    diag = table["diag"][index]
    noise = table["noise"][index]
    active = diag > 0

    def mean(values):
        return float(np.mean(values)) if len(values) else float("nan")

    sizes = [size for i in index[active] for size in table["sizes"][i]]
    mean_diag = mean(diag[active])
    mean_noise = mean(noise[active])
    return {
        "mean_diag": mean_diag,
        "mean_diag_all": mean(diag),
        "mean_clusters": mean(table["clusters"][index][active]),
        "mean_cluster_size": mean(sizes),
        "empty_fraction": mean(~active),
        "mean_noise": mean_noise,
        "mean_noise_all": mean(noise),
        "snr": _ratio(mean(table["signal"][index][active]), mean_noise),
        "snr_labels": _ratio(mean_diag, mean_noise),
    }


def tap_stats(V, theta=DEFAULT_THETA):
    """`table_stats` of every node of `(n, K, K)` matrices."""
    return table_stats(node_table(V, theta))


def slope(x, y):
    """Least-squares slope of `y` on `x` (NaN with < 2 distinct x or a
    non-finite y)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if len(x) < 2 or np.ptp(x) == 0 or not np.isfinite(y).all():
        return float("nan")
    xc = x - x.mean()
    return float((xc * (y - y.mean())).sum() / (xc**2).sum())


def _ratio(numerator, denominator):
    if np.isnan(numerator) or np.isnan(denominator):
        return float("nan")
    if denominator == 0:
        return float("inf") if numerator > 0 else float("nan")
    return float(numerator / denominator)
