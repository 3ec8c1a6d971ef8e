"""Hand-made SNP results whose head structure is known."""

import numpy as np

from keras_snp.snp import SNPResult
from keras_snp.snp import TapResult


def node_matrices(label_sets, K, rng, strength=1.0, noise=0.05):
    """`(n, K, K)`: node d has a strong diagonal on `label_sets[d]`, weak
    positive off-diagonal noise elsewhere."""
    V = rng.uniform(0, noise, size=(len(label_sets), K, K))
    for d, labels in enumerate(label_sets):
        for c in labels:
            V[d, c, c] = strength * rng.uniform(0.8, 1.0)
    return V.astype("float32")


def planted_tap(
    K=12,
    H=3,
    nodes_per_head=8,
    mixed=False,
    seed=0,
    name="encoder_1_mha",
    encoder=1,
):
    """An MHA tap with `H` heads and `K = H * group` labels.

    Planted: node i of head h recognises labels `i` and `i + 1` (modulo
    the group size) of group h (labels `h * K // H` to
    `(h + 1) * K // H - 1`). Mixed: node i of every head recognises the
    same two labels of group `i % H`, so every head holds the same mix.
    """
    rng = np.random.default_rng(seed)
    group = K // H
    head = np.repeat(np.arange(H), nodes_per_head)
    sets = []
    for d, h in enumerate(head):
        i = d % nodes_per_head
        g = i % H if mixed else h
        sets.append([g * group + i % group, g * group + (i + 1) % group])
    V = node_matrices(sets, K, rng)
    return TapResult(
        name=name, kind="mha", encoder=encoder, V=V, head=head, tokens=4
    )


def planted_result(mixed=False, K=12, H=3, encoders=2, **kwargs):
    taps = {}
    for enc in range(1, encoders + 1):
        name = f"encoder_{enc}_mha"
        taps[name] = planted_tap(
            K=K, H=H, mixed=mixed, seed=enc, name=name, encoder=enc, **kwargs
        )
    return SNPResult(
        taps=taps, theta=0.3, label_names=[f"label_{c}" for c in range(K)]
    )
