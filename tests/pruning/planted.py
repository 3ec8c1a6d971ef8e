"""Planted SNP results: known diagonal sets, for tests and benchmarks."""

import re

import numpy as np

from keras_snp.models.attention import PerHeadAttention
from keras_snp.models.cct import num_encoders
from keras_snp.pruning.andc import pruning_taps
from keras_snp.snp.result import SNPResult
from keras_snp.snp.result import TapResult

_NAME = re.compile(r"^encoder_(\d+)_(.+)$")
_KINDS = {"mha": "mha", "ff_hidden": "ff", "out": "res"}


def planted_set_tap(
    name,
    sets,
    num_classes,
    kind="other",
    encoder=None,
    head=None,
    noise=0.1,
    seed=0,
):
    """A `TapResult` whose node `d` has exactly the diagonal set `sets[d]`.

    `V_d` is 1 on `(c, c)` for `c` in the set and `noise * U(0, 1)`
    elsewhere, so with `theta > noise` the diagonal set is the planted one
    (an empty set gives a silent or noise-only node).
    """
    rng = np.random.default_rng(seed)
    n = len(sets)
    V = (noise * rng.random((n, num_classes, num_classes))).astype("float32")
    for d, labels in enumerate(sets):
        V[d, list(labels), list(labels)] = 1.0
        if not labels:
            V[d] = 0.0
    head = np.full(n, -1) if head is None else np.asarray(head)
    return TapResult(
        name=name, kind=kind, encoder=encoder, V=V, head=head, tokens=1
    )


def random_sets(n, num_classes, labels_per_node, empty_fraction, rng):
    """`n` random label sets: empty with probability `empty_fraction`."""
    sets = []
    for _ in range(n):
        if rng.random() < empty_fraction:
            sets.append([])
        else:
            size = min(labels_per_node, num_classes)
            sets.append(sorted(rng.choice(num_classes, size, replace=False)))
    return sets


def planted_snp_result(
    model, labels_per_node=2, empty_fraction=0.3, seed=0, theta=0.3
):
    """An `SNPResult` of random planted sets on every tap that pruning
    (scope `all`) or the heads report (`mha`) reads.

    Example:
    ```python
    result = planted_snp_result(build_cct("cct_7_3x1", num_classes=100))
    ```
    """
    rng = np.random.default_rng(seed)
    num_classes = model.output_shape[-1]
    names = set(pruning_taps(model, "all"))
    names.update(f"encoder_{l}_mha" for l in range(1, num_encoders(model) + 1))
    taps = {}
    for layer in model.layers:
        if layer.name not in names:
            continue
        n = layer.output.shape[-1]
        match = _NAME.match(layer.name)
        encoder = int(match.group(1)) if match else None
        kind = _KINDS.get(match.group(2), "other") if match else "other"
        head = (
            layer.head_of_node if isinstance(layer, PerHeadAttention) else None
        )
        sets = random_sets(n, num_classes, labels_per_node, empty_fraction, rng)
        taps[layer.name] = planted_set_tap(
            layer.name,
            sets,
            num_classes,
            kind,
            encoder,
            head,
            seed=int(rng.integers(1 << 30)),
        )
    return SNPResult(taps=taps, theta=theta)
