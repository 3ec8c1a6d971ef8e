"""SNP post-processing in plain numpy: METHOD.md section 2, steps 5 to 9.

A node's SNP matrix `V` is K x K (rows: true label, columns: output label).
Everything here works on matrices already computed, on any backend.
"""

import dataclasses

import numpy as np

DEFAULT_THETA = 0.3


def check_theta(theta):
    if not 0 < theta < 1:
        raise ValueError(
            f"`theta` must be in (0, 1): use e.g. --theta 0.3. "
            f"Received: theta={theta}"
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


def tap_stats(V, theta=DEFAULT_THETA):
    """The per-tap statistics of METHOD.md step 9 for `(n, K, K)` matrices.

    Means run over active nodes (non-empty diagonal set) unless the key
    ends in `_all`. Statistics with no active node are NaN.
    """
    nodes = [node_stats(v, theta) for v in np.asarray(V)]
    active = [s for s in nodes if s.active]

    def mean(values):
        return float(np.mean(values)) if len(values) else float("nan")

    mean_diag = mean([len(s.diag) for s in active])
    mean_noise = mean([s.noise for s in active])
    signal = mean([s.signal for s in active])
    sizes = [len(c) for s in active for c in s.clusters]
    return {
        "mean_diag": mean_diag,
        "mean_diag_all": mean([len(s.diag) for s in nodes]),
        "mean_clusters": mean([len(s.clusters) for s in active]),
        "mean_cluster_size": mean(sizes),
        "empty_fraction": mean([not s.active for s in nodes]),
        "mean_noise": mean_noise,
        "mean_noise_all": mean([s.noise for s in nodes]),
        "snr": _ratio(signal, mean_noise),
        "snr_labels": _ratio(mean_diag, mean_noise),
    }


def _ratio(numerator, denominator):
    if np.isnan(numerator) or np.isnan(denominator):
        return float("nan")
    if denominator == 0:
        return float("inf") if numerator > 0 else float("nan")
    return float(numerator / denominator)
