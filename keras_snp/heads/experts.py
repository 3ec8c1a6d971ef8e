"""Head label sets, encoder metrics and the shuffle null model, in numpy.

METHOD.md section 3. A head's matrix is the sum of its nodes' SNP
matrices (additivity of the bias-free readout); it is normalised and
thresholded like a node's, and its diagonal set `L_h` are the head's
expert labels. Everything here works on matrices already computed.
"""

import dataclasses

import numpy as np

from keras_snp.settings import HeadsSettings
from keras_snp.snp import clusters

# Direction in which a metric signals specialisation ("lower": smaller
# than the null is more specialised).
METRIC_DIRECTIONS = {
    "mean_jaccard": "lower",
    "mean_entropy": "lower",
    "mean_labels_per_head": "lower",
    "mean_heads_per_label": "lower",
    "coverage": "higher",
}
# Metrics that must all beat the null before symmetry breaking is claimed.
CLAIM_METRICS = ("mean_entropy", "mean_jaccard")


def check_heads(head, nodes):
    """Checks a `(nodes,)` head index array; returns it and the head count."""
    head = np.asarray(head)
    if head.shape != (nodes,) or not np.issubdtype(head.dtype, np.integer):
        raise ValueError(
            f"`head` must be an int array of shape ({nodes},), one head "
            f"index per node. Received: shape={head.shape}, "
            f"dtype={head.dtype}"
        )
    if nodes == 0 or head.min() < 0:
        raise ValueError(
            "`head` must give every node a head index >= 0 (only MHA taps "
            f"have heads). Received: min head={head.min() if nodes else None}"
        )
    return head.astype(np.int64), int(head.max()) + 1


def head_matrices(V, head, num_heads=None):
    """`(H, K, K)`: `V_h = sum of V_d over the nodes d of head h`."""
    V = np.asarray(V, dtype=np.float64)
    head, found = check_heads(head, V.shape[0])
    num_heads = num_heads or found
    one_hot = np.eye(num_heads)[head].T  # (H, n)
    flat = one_hot @ V.reshape(V.shape[0], -1)
    return flat.reshape(num_heads, *V.shape[1:])


def _normalised_diagonal(VH):
    """`(..., K)`: the diagonal of `V / max(V)`, 0 for silent matrices."""
    peak = VH.max(axis=(-2, -1))
    diag = np.diagonal(VH, axis1=-2, axis2=-1)
    safe = np.where(peak > 0, peak, 1.0)
    return np.where(peak[..., None] > 0, diag / safe[..., None], 0.0)


def _entropy(counts):
    """Normalised entropy of `E = counts / counts.sum(heads)` per label.

    `counts` is `(..., H, K)`; returns `(..., K)`, NaN where a label has no
    expert node (or with a single head, where entropy is undefined).
    """
    total = counts.sum(axis=-2, keepdims=True)
    E = np.divide(
        counts,
        total,
        out=np.zeros_like(counts, dtype=np.float64),
        where=total > 0,
    )
    logs = np.log(np.where(E > 0, E, 1.0))
    num_heads = counts.shape[-2]
    entropy = -(E * logs).sum(axis=-2)
    if num_heads < 2:
        return np.full(entropy.shape, np.nan), E
    entropy = entropy / np.log(num_heads)
    return np.where(total[..., 0, :] > 0, entropy, np.nan), E


def _nanmean(x, axis=-1):
    x = np.asarray(x, dtype=np.float64)
    valid = ~np.isnan(x)
    count = valid.sum(axis=axis)
    total = np.where(valid, x, 0.0).sum(axis=axis)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def jaccard_matrix(L):
    """`(..., H, H)` pairwise Jaccard of label sets `L (..., H, K)` bool.

    Two empty sets give NaN.
    """
    L = np.asarray(L, dtype=np.float64)
    inter = L @ np.swapaxes(L, -1, -2)
    sizes = L.sum(axis=-1)
    union = sizes[..., :, None] + sizes[..., None, :] - inter
    return np.divide(
        inter, union, out=np.full(inter.shape, np.nan), where=union > 0
    )


def set_metrics(L, counts):
    """Encoder metrics of label sets `L (..., H, K)` and counts `n_h(c)`.

    Returns a dict of arrays with the leading batch shape (one value per
    sample for the null model, scalars for the data):
    `coverage` = |union L_h| / K; `mean_jaccard` over head pairs (NaN
    pairs excluded); `mean_labels_per_head` = mean |L_h|;
    `mean_heads_per_label` over covered labels; `mean_entropy` = mean
    normalised entropy of `E[h, c]` over labels with an expert node.
    """
    L = np.asarray(L, dtype=bool)
    num_heads, K = L.shape[-2:]
    heads_per_label = L.sum(axis=-2)
    covered = heads_per_label > 0
    J = jaccard_matrix(L)
    upper = np.triu_indices(num_heads, k=1)
    pairs = J[..., upper[0], upper[1]]
    entropy, _ = _entropy(np.asarray(counts, dtype=np.float64))
    n_covered = covered.sum(axis=-1)
    return {
        "coverage": n_covered / K,
        "mean_jaccard": (
            _nanmean(pairs)
            if pairs.shape[-1]
            else np.full(L.shape[:-2], np.nan)
        ),
        "mean_labels_per_head": L.sum(axis=-1).mean(axis=-1),
        "mean_heads_per_label": np.divide(
            heads_per_label.sum(axis=-1),
            n_covered,
            out=np.full(L.shape[:-2], np.nan),
            where=n_covered > 0,
        ),
        "mean_entropy": _nanmean(entropy),
    }


@dataclasses.dataclass
class NullStat:
    """One metric against the null: observed, null mean / std, z and p."""

    observed: float
    null_mean: float
    null_std: float
    z: float
    p: float
    direction: str
    samples: int
    # Holm-adjusted p over the family it is tested in (the encoders of
    # one model); NaN until `correct_across_encoders` sets it.
    p_holm: float = float("nan")

    def beats(self, p_threshold):
        """`p` below the threshold; the Holm-adjusted `p` once set."""
        p = self.p_holm if np.isfinite(self.p_holm) else self.p
        return bool(np.isfinite(p) and p < p_threshold)

    def to_dict(self):
        return dataclasses.asdict(self)


def null_stat(observed, samples, direction):
    """z-score and one-sided empirical p-value of `observed` against the
    null `samples`; NaN samples are dropped.

    `p = (1 + #samples at least as specialised) / (1 + #samples)`, where
    "at least as specialised" is `<= observed` for direction `"lower"` and
    `>= observed` for `"higher"`.
    """
    if direction not in ("lower", "higher"):
        raise ValueError(
            "`direction` must be 'lower' or 'higher'. "
            f"Received: direction={direction!r}"
        )
    samples = np.asarray(samples, dtype=np.float64)
    samples = samples[~np.isnan(samples)]
    observed = float(observed)
    if not samples.size or np.isnan(observed):
        return NullStat(
            observed,
            float("nan"),
            float("nan"),
            float("nan"),
            float("nan"),
            direction,
            int(samples.size),
        )
    mean, std = float(samples.mean()), float(samples.std())
    z = (observed - mean) / std if std > 0 else float("nan")
    if direction == "lower":
        count = int((samples <= observed).sum())
    else:
        count = int((samples >= observed).sum())
    p = (1 + count) / (1 + samples.size)
    return NullStat(observed, mean, std, z, p, direction, int(samples.size))


def holm_adjusted(pvalues):
    """Holm's step-down adjusted p-values, in the input order; NaN entries
    stay NaN and are not counted in the family.

    Example:
    >>> holm_adjusted([0.01, 0.04, 0.03, float("nan")]).round(3).tolist()
    [0.03, 0.06, 0.06, nan]
    """
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (len(order) - rank) * p[i]))
        out[i] = running
    return out


def _claim(null, null_permuted, p_threshold):
    """Symmetry breaking: every claim metric beats both null models."""
    return bool(null) and all(
        nulls[k].beats(p_threshold)
        for nulls in (null, null_permuted)
        for k in CLAIM_METRICS
    )


def correct_across_encoders(encoders, p_threshold):
    """Holm over the encoders of one model, per null model and metric:
    sets each `NullStat.p_holm` and each encoder's `symmetry_breaking`
    (every claim metric's adjusted p below `p_threshold` against both
    null models)."""
    for family in ("null", "null_permuted"):
        for metric in METRIC_DIRECTIONS:
            stats = [
                getattr(e, family)[metric]
                for e in encoders
                if metric in getattr(e, family)
            ]
            for stat, p in zip(stats, holm_adjusted([s.p for s in stats])):
                stat.p_holm = float(p)
    for e in encoders:
        e.symmetry_breaking = _claim(e.null, e.null_permuted, p_threshold)


@dataclasses.dataclass
class EncoderExperts:
    """The label-expert analysis of one MHA tap (numbers only)."""

    tap: str
    encoder: int | None
    num_heads: int
    head_nodes: list  # per head: node indices
    V_heads: np.ndarray  # (H, K, K)
    diag_strength: np.ndarray  # (H, K) diagonal of V_h / max(V_h)
    L: np.ndarray  # (H, K) bool
    counts: np.ndarray  # (H, K) n_h(c)
    expertise: np.ndarray  # (H, K), NaN columns for labels w/o expert
    entropy: np.ndarray  # (K,) normalised, NaN where undefined
    jaccard: np.ndarray  # (H, H)
    heads_per_label: np.ndarray  # (K,)
    metrics: dict  # name -> float
    null: dict  # name -> NullStat
    head_null: list  # per head: NullStat of |L_h|
    symmetry_breaking: bool
    # The second null (labels renamed per head): claim metrics only.
    null_permuted: dict = dataclasses.field(default_factory=dict)


def label_permutation_samples(L, counts, samples, seed):
    """The second null model: every head keeps its own label set and its
    nodes' counts (its nodes stay together, with whatever they share
    through one attention map), but its labels are renamed at random,
    independently of the other heads. Returns `(L (S, H, K) bool,
    counts (S, H, K))`. Beating it says the heads share the labels out
    among themselves more than heads that picked their sets on their own.
    """
    L, counts = np.asarray(L), np.asarray(counts)
    rng = np.random.default_rng(seed)
    perms = np.argsort(rng.random((samples, *L.shape)), axis=-1)
    L0 = np.take_along_axis(np.broadcast_to(L, perms.shape), perms, -1)
    counts0 = np.take_along_axis(
        np.broadcast_to(counts, perms.shape), perms, -1
    )
    return L0, counts0


def null_samples_of(V, D, head, num_heads, theta, samples, seed, chunk=16):
    """Shuffles nodes among heads (sizes kept) `samples` times.

    Returns `(L (S, H, K) bool, counts (S, H, K))`. Each chunk of samples
    is one matrix product `(chunk*H, n) @ (n, K*K)`.
    """
    n, K = V.shape[0], V.shape[1]
    rng = np.random.default_rng(seed)
    flat = np.asarray(V, dtype=np.float64).reshape(n, K * K)
    D = np.asarray(D, dtype=np.float64)
    L_all, counts_all = [], []
    for start in range(0, samples, chunk):
        size = min(chunk, samples - start)
        perm = np.stack([rng.permutation(n) for _ in range(size)])
        # Node perm[s, i] takes the head of slot i: head sizes are kept.
        one_hot = np.zeros((size, num_heads, n))
        rows = np.repeat(np.arange(size), n)
        one_hot[rows, np.tile(head, size), perm.ravel()] = 1.0
        VH = (one_hot.reshape(size * num_heads, n) @ flat).reshape(
            size, num_heads, K, K
        )
        L_all.append(_normalised_diagonal(VH) > theta)
        counts_all.append(one_hot @ D)
    return np.concatenate(L_all), np.concatenate(counts_all)


def analyze_encoder(
    tap,
    theta=None,
    null_samples=HeadsSettings.null_samples,
    seed=0,
    p_threshold=HeadsSettings.p_threshold,
):
    """`EncoderExperts` of one MHA `TapResult` (see METHOD.md section 3)."""
    theta = clusters.check_theta(
        theta if theta is not None else clusters.DEFAULT_THETA
    )
    if null_samples < 0:
        raise ValueError(
            "`null_samples` must be >= 0. "
            f"Received: null_samples={null_samples}"
        )
    V = np.asarray(tap.V, dtype=np.float64)
    head, num_heads = check_heads(tap.head, V.shape[0])
    VH = head_matrices(V, head, num_heads)
    diag = _normalised_diagonal(VH)
    L = clusters.diagonal_mask(VH, theta)
    D = clusters.diagonal_mask(V, theta)
    one_hot = np.eye(num_heads)[head].T
    counts = one_hot @ D.astype(np.float64)
    entropy, E = _entropy(counts)
    E = np.where(counts.sum(axis=0, keepdims=True) > 0, E, np.nan)
    metrics = {k: float(v) for k, v in set_metrics(L, counts).items()}
    null, head_null = {}, []
    if null_samples:
        L0, counts0 = null_samples_of(
            V, D, head, num_heads, theta, null_samples, seed
        )
        sampled = set_metrics(L0, counts0)
        null = {
            k: null_stat(metrics[k], sampled[k], METRIC_DIRECTIONS[k])
            for k in METRIC_DIRECTIONS
        }
        head_null = [
            null_stat(L[h].sum(), L0[:, h].sum(axis=-1), "lower")
            for h in range(num_heads)
        ]
        renamed = set_metrics(
            *label_permutation_samples(L, counts, null_samples, seed + 7919)
        )
        null_permuted = {
            k: null_stat(metrics[k], renamed[k], METRIC_DIRECTIONS[k])
            for k in CLAIM_METRICS
        }
    else:
        null_permuted = {}
    claim = _claim(null, null_permuted, p_threshold)
    return EncoderExperts(
        tap=tap.name,
        encoder=tap.encoder,
        num_heads=num_heads,
        head_nodes=[
            np.flatnonzero(head == h).tolist() for h in range(num_heads)
        ],
        V_heads=VH,
        diag_strength=diag,
        L=L,
        counts=counts,
        expertise=E,
        entropy=entropy,
        jaccard=jaccard_matrix(L),
        heads_per_label=L.sum(axis=0),
        metrics=metrics,
        null=null,
        head_null=head_null,
        symmetry_breaking=claim,
        null_permuted=null_permuted,
    )
