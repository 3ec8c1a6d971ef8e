"""Structured pruning by SNP: whole FF units and whole heads (ours).

Not in the paper (METHOD.md section 4 prunes connections); an opt-in
variant of keras_snp. In every encoder the FF hidden units and the heads
are ranked by their SNP on the pruning data, weakest first: fewest
diagonal labels `|D_d|` (an empty `D_d` first), ties broken by the smaller
sum of the node's positive diagonal fields. For a head the matrix is
`V_h = sum of V_d` over its value nodes (METHOD.md step 10). The chosen
`fraction` of each encoder's units (and of its heads, at least one head
kept) loses every outgoing connection: its rows of the MLP's output
Dense and of the attention projection (the layers of each encoder as the
`cct` adapter names them, `CCT.encoders`). `shrink` then removes them
physically (a head whose value nodes are all gone is removed with its
query and key columns), so the masked and the shrunk model compute the
same outputs.
"""

import numpy as np

from keras_snp.sites.cct import CCT
from keras_snp.snp import clusters

PARTS = ("ff", "heads")


def structured_taps(model):
    """The SNP taps the structured variant ranks by: per encoder its
    attention output (heads) and its MLP's hidden layer (FF units)."""
    return _taps(model, PARTS)


def _taps(model, parts):
    names = []
    for encoder in CCT.encoders(model):
        if "heads" in parts:
            names.append(encoder.mha)
        if "ff" in parts:
            names.append(encoder.ff_hidden)
    return names


def _weakest_first(V, theta):
    """Node order, weakest first: |D_d| then positive diagonal strength."""
    sizes = clusters.diagonal_mask(V, theta).sum(axis=1)
    diag = np.clip(np.diagonal(V, axis1=1, axis2=2), 0, None).sum(axis=1)
    return np.lexsort((diag, sizes))


def structured_masks(model, snp_result, fraction, theta=None, parts=PARTS):
    """Masks that cut whole FF units and whole heads, weakest by SNP first.

    Args:
        model: a CCT from `build_cct`.
        snp_result: an `SNPResult` holding every encoder's MLP hidden
            layer (for `"ff"`) and attention output (for `"heads"`), the
            taps of `structured_taps`.
        fraction: share of each encoder's FF units and heads to remove,
            in [0, 1).
        theta: SNP threshold (default: the result's).
        parts: any of `"ff"`, `"heads"`.

    Returns:
        `{layer: bool mask}` for every encoder's MLP output Dense and/or
        attention projection, with whole rows cut.

    Example:
    ```python
    masks = structured_masks(model, result, 0.25)
    small = shrink(prune(model, masks=masks))
    ```
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(
            f"`fraction` must be in [0, 1). Received: fraction={fraction}"
        )
    unknown = [p for p in parts if p not in PARTS]
    if unknown or not parts:
        raise ValueError(
            f"`parts` must be a non-empty subset of {PARTS}. Received: "
            f"parts={parts}"
        )
    theta = snp_result.theta if theta is None else theta
    missing = [t for t in _taps(model, parts) if t not in snp_result.taps]
    if missing:
        raise ValueError(
            f"The SNP result lacks the taps {missing}: measure them with "
            "`compute_snp(..., taps=structured_taps(model))`."
        )
    masks = {}
    for encoder in CCT.encoders(model):
        if "ff" in parts:
            tap = snp_result.taps[encoder.ff_hidden]
            cut = _weakest_first(tap.V, theta)[: int(fraction * tap.nodes)]
            kernel = model.get_layer(encoder.ff_out)
            mask = np.ones(_kernel_shape(kernel), bool)
            mask[cut] = False
            masks[encoder.ff_out] = mask
        if "heads" in parts:
            tap = snp_result.taps[encoder.mha]
            heads = int(tap.head.max()) + 1
            V_h = np.stack(
                [tap.V[tap.head == h].sum(axis=0) for h in range(heads)]
            )
            count = min(int(fraction * heads), heads - 1)
            cut = _weakest_first(V_h, theta)[:count]
            mask = np.ones(
                _kernel_shape(model.get_layer(encoder.attn_proj)), bool
            )
            mask[np.isin(tap.head, cut)] = False
            masks[encoder.attn_proj] = mask
    return masks


def _kernel_shape(layer):
    inner = getattr(layer, "layer", layer)
    return tuple(inner.kernel.shape)
