"""Node fields and SNP matrices (METHOD.md section 2, steps 3-4).

With a bias-free readout `W (K, tokens, nodes)` on the scaled tap
`A_s = A * scale`, the field of node d for label c on input x is

    phi_d(x, c) = sum_t W[c, t, d] * A_s(x)[t, d]

which is exactly the readout's logits when every node but d is silenced.
`node_fields` computes it for every node at once with one `keras.ops.einsum`
per batch; `SNPAccumulator` averages it per true label over a split, giving
`V (nodes, K, K)` (by linearity, from per-label activation sums: one
contraction per batch, one at the end). `fields_by_silencing` is the slow
per-node loop, kept for benchmarks.
"""

import numpy as np
from keras import ops


def as_tokens(activations):
    """`(B, tokens, n)` float32 view of a rank-3 or rank-4 tap."""
    x = ops.convert_to_tensor(activations)
    if len(x.shape) == 4:
        x = ops.reshape(x, (-1, x.shape[1] * x.shape[2], x.shape[3]))
    elif len(x.shape) != 3:
        raise ValueError(
            "`activations` must be rank 3 `(batch, tokens, nodes)` or rank 4 "
            f"`(batch, height, width, nodes)`. Received: shape={x.shape}"
        )
    return ops.cast(x, "float32")


def readout_input(activations, scale=None, pooled=False):
    """The readout's input: the tap as tokens, scaled, optionally pooled."""
    x = as_tokens(activations)
    if scale is not None:
        x = x * ops.cast(ops.convert_to_tensor(scale), "float32")
    if pooled:
        x = ops.mean(x, axis=1, keepdims=True)
    return x


def node_fields(activations, W, scale=None, pooled=False):
    """Every node's field on every input of a batch.

    Args:
        activations: `(B, tokens, n)` or `(B, H, W, n)` raw tap activations.
        W: `(K, tokens, n)` readout weights (`(K, 1, n)` when pooled).
        scale: `(n,)` per-node factor applied before the readout, or None.
        pooled: whether the readout sees the mean over tokens.

    Returns:
        `(B, n, K)` float32 tensor: `phi[b, d, c]`.

    Example:
    >>> A = np.ones((2, 3, 4), "float32"); W = np.ones((5, 3, 4), "float32")
    >>> ops.convert_to_numpy(node_fields(A, W)).shape
    (2, 4, 5)
    """
    x = readout_input(activations, scale, pooled)
    W = ops.cast(ops.convert_to_tensor(W), "float32")
    return ops.einsum("btn,ktn->bnk", x, W)


def group_logits(tap_result, activations, node_mask):
    """Logits of the readout when only a group of nodes speaks.

    By additivity (METHOD.md step 10) the logits of a group are the sum of
    its nodes' fields; the heads report uses this for head-only accuracy
    (`argmax` over the last axis).

    Args:
        tap_result: a `TapResult` holding its readout `W` (and `scale`).
        activations: `(B, tokens, n)` or `(B, H, W, n)` raw activations of
            the tap (as the tap layer outputs them, before scaling).
        node_mask: `(n,)` bool for one group, or `(G, n)` for G groups
            (e.g. one row per head).

    Returns:
        numpy float32 `(B, K)` for one group, `(B, G, K)` for G groups.

    Example:
    ```python
    heads = tap.head[None] == np.arange(tap.head.max() + 1)[:, None]
    per_head = group_logits(tap, activations, heads)   # (B, heads, K)
    head_pred = per_head.argmax(-1)
    ```
    """
    if tap_result.W is None:
        raise ValueError(
            f"`tap_result` {tap_result.name!r} has no readout weights `W`; "
            "use the result of `compute_snp` (kept in memory) or one saved "
            "with `save_readouts=True`."
        )
    mask = np.asarray(node_mask)
    single = mask.ndim == 1
    mask = np.atleast_2d(mask).astype("float32")
    if mask.shape[1] != tap_result.nodes:
        raise ValueError(
            f"`node_mask` must have {tap_result.nodes} entries per group "
            f"(the tap's nodes). Received: shape={np.asarray(node_mask).shape}"
        )
    pooled = tap_result.W.shape[1] == 1 and tap_result.tokens != 1
    fields = node_fields(activations, tap_result.W, tap_result.scale, pooled)
    logits = ops.convert_to_numpy(ops.einsum("bnk,gn->bgk", fields, mask))
    return logits[:, 0] if single else logits


class SNPAccumulator:
    """Accumulates `V_d[i, c] = mean over x of label i of phi_d(x, c)`.

    The field is linear in the activations, so the mean field of label i
    is the field of label i's mean (scaled) activations: each batch adds
    its per-label activation sums with one contraction (`keras.ops.einsum`,
    a single matrix product), and `result` contracts them with `W` once.
    Memory: one batch of activations, `W`, and sums of `W`'s size.

    Args:
        W: `(K, tokens, n)` readout weights.
        scale: `(n,)` per-node factor, or None.
        pooled: whether the readout pools over tokens.
    """

    def __init__(self, W, scale=None, pooled=False):
        self.W = ops.cast(ops.convert_to_tensor(W), "float32")
        self.num_classes = int(self.W.shape[0])
        self.scale = scale
        self.pooled = pooled
        self.sums = ops.zeros(tuple(self.W.shape))
        self.counts = np.zeros((self.num_classes,), "int64")

    def update(self, activations, labels):
        """Adds one batch; `labels` are int `(B,)`."""
        labels = np.asarray(labels).astype("int32")
        x = readout_input(activations, self.scale, self.pooled)
        onehot = ops.one_hot(labels, self.num_classes)
        self.sums = self.sums + ops.einsum("bi,btn->itn", onehot, x)
        self.counts += np.bincount(labels, minlength=self.num_classes)

    def result(self):
        """`(n, K, K)` float32 means; rows of absent labels stay zero."""
        V = ops.convert_to_numpy(
            ops.einsum("itn,ktn->nik", self.sums, self.W)
        ).astype("float64")
        counts = np.maximum(self.counts, 1)[None, :, None]
        return (V / counts).astype("float32")


def fields_by_silencing(readout_fn, activations, nodes):
    """Slow reference: for each node d, zero the tap except d and run the
    readout. Returns `(B, n, K)` numpy.

    Args:
        readout_fn: maps raw activations `(B, ...)` to logits `(B, K)`.
        activations: the raw tap activations.
        nodes: number of nodes (last axis).
    """
    x = ops.convert_to_tensor(activations)
    out = []
    for d in range(nodes):
        keep = ops.one_hot(d, nodes, dtype=x.dtype)
        out.append(ops.convert_to_numpy(readout_fn(x * keep)))
    return np.stack(out, axis=1)
