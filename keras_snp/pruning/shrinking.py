"""Physical shrinking of a pruned CCT.

After the masks are baked in (`andc.strip`), a unit whose every outgoing
weight is zero never reaches the output, and a unit whose every incoming
weight is zero holds the constant `act(bias)`. Both can be removed
exactly; the constant's contribution is folded into the next layer's bias
first. What `shrink` removes in each encoder (its layers named by the
`cct` adapter, `keras_snp.sites.cct`, `CCT.encoders`):

- FF hidden units of its MLP's hidden Dense (rows of the MLP's output
  Dense);
- value nodes of its attention (their value columns of the
  query-key-value Dense and rows of the attention projection; a value node
  without input is the constant value bias, since attention weights sum
  to one), through `PerHeadAttention.value_dims`;
- whole heads whose every value node is gone: `num_heads` drops and the
  head's query and key columns of the query-key-value Dense go too.

Residual-stream units (inputs of the MLP, of the query-key-value Dense
and of the classifier; outputs of the attention projection and of the
MLP) are never removed: the residual additions and the LayerNorms couple
every unit of the stream, so a zero column there does not make a unit
removable. Labels are never removed either.

`count_flops` is `keras_snp.models.flops.count_flops`, re-exported here
for the callers that import it from the pruning package.
"""

import keras
import numpy as np
from keras import ops

from keras_snp.models.flops import count_flops
from keras_snp.pruning.andc import strip
from keras_snp.pruning.wrapper import ANDCPrune
from keras_snp.sites.cct import CCT

__all__ = ["count_flops", "kept_nodes", "shrink"]


def _units_to_keep(w_in, const, w_next, b_next):
    """Which units of a hidden layer survive, and the next layer's weights.

    A unit goes when nothing reads it (no outgoing connection), or when
    nothing feeds it (no incoming connection) and its constant output
    `const` can be folded into the next layer's bias (or is zero). At least
    one unit stays, silenced, because a Dense needs one.

    Returns `(keep, w_next, b_next)` with the constants folded in.
    """
    w_next = w_next.copy()
    no_in, no_out = ~w_in.any(axis=0), ~w_next.any(axis=1)
    foldable = (b_next is not None) | (const == 0)
    remove = no_out | (no_in & foldable)
    fold = remove & ~no_out
    if b_next is not None and fold.any():
        b_next = b_next + const[fold] @ w_next[fold]
    keep = ~remove
    if not keep.any():
        keep[0] = True
        w_next[0] = 0.0
    return keep, w_next, b_next


def _shrink_ff(model, encoder):
    hidden = model.get_layer(encoder.ff_hidden)
    out = model.get_layer(encoder.ff_out)
    w1 = ops.convert_to_numpy(hidden.kernel)
    b1 = (
        ops.convert_to_numpy(hidden.bias)
        if hidden.bias is not None
        else np.zeros(w1.shape[1])
    )
    b2 = ops.convert_to_numpy(out.bias) if out.bias is not None else None
    act = hidden.activation or (lambda x: x)
    const = ops.convert_to_numpy(
        act(keras.ops.convert_to_tensor(b1.astype("float32")))
    )
    keep, w2, b2 = _units_to_keep(
        w1, const, ops.convert_to_numpy(out.kernel), b2
    )
    hidden_weights = [w1[:, keep]] + (
        [b1[keep]] if hidden.bias is not None else []
    )
    out_weights = [w2[keep]] + ([b2] if b2 is not None else [])
    config = {**hidden.get_config(), "units": int(keep.sum())}
    return {
        encoder.ff_hidden: (config, hidden_weights),
        encoder.ff_out: (None, out_weights),
    }, keep


def _shrink_attention(model, encoder):
    qkv = model.get_layer(encoder.qkv)
    mha = model.get_layer(encoder.mha)
    proj = model.get_layer(encoder.attn_proj)
    heads, key_dim = mha.num_heads, mha.key_dim
    qk = heads * key_dim
    w = ops.convert_to_numpy(qkv.kernel)
    b = ops.convert_to_numpy(qkv.bias) if qkv.bias is not None else None
    wv = w[:, 2 * qk :]
    bv = b[2 * qk :] if b is not None else np.zeros(wv.shape[1], w.dtype)
    bp = ops.convert_to_numpy(proj.bias) if proj.bias is not None else None
    # A value node's output is its value column (attention weights sum to
    # 1), so a node with no input outputs its bias.
    keep, wp, bp = _units_to_keep(wv, bv, ops.convert_to_numpy(proj.kernel), bp)
    head_of_node = mha.head_of_node
    value_dims = [int(keep[head_of_node == h].sum()) for h in range(heads)]
    kept_heads = [h for h in range(heads) if value_dims[h] > 0]
    q_cols = np.concatenate(
        [np.arange(h * key_dim, (h + 1) * key_dim) for h in kept_heads]
    )
    columns = np.concatenate(
        [q_cols, q_cols + qk, 2 * qk + np.flatnonzero(keep)]
    )
    qkv_weights = [w[:, columns]] + ([b[columns]] if b is not None else [])
    proj_weights = [wp[keep]] + ([bp] if bp is not None else [])
    mha_config = {
        **mha.get_config(),
        "num_heads": len(kept_heads),
        "value_dims": [value_dims[h] for h in kept_heads],
    }
    return (
        {
            encoder.qkv: (
                {**qkv.get_config(), "units": len(columns)},
                qkv_weights,
            ),
            encoder.mha: (mha_config, []),
            encoder.attn_proj: (None, proj_weights),
        },
        heads - len(kept_heads),
        keep,
    )


def _plan(model):
    """`(plan, report, kept)`: per layer its new config and weights, the
    removed counts `shrink` reports, and per FF hidden and attention layer
    the indices of the units that stay."""
    plan, report, kept = {}, {}, {}
    for encoder in CCT.encoders(model):
        ff_plan, ff_keep = _shrink_ff(model, encoder)
        att_plan, removed_heads, att_keep = _shrink_attention(model, encoder)
        plan.update(ff_plan)
        plan.update(att_plan)
        hidden, mha = encoder.ff_hidden, encoder.mha
        report[hidden] = (
            model.get_layer(hidden).units - plan[hidden][0]["units"]
        )
        report[mha] = sum(model.get_layer(mha).value_dims) - sum(
            plan[mha][0]["value_dims"]
        )
        report[f"{encoder.name}_heads"] = removed_heads
        kept[hidden] = np.flatnonzero(ff_keep).tolist()
        kept[mha] = np.flatnonzero(att_keep).tolist()
    return plan, report, kept


def kept_nodes(model):
    """`{layer name: [index]}`: for each FF hidden layer and attention
    layer of a pruned CCT, which of its units `shrink` keeps, in order;
    node `i` of the shrunken layer is node `kept[i]` of the original (the
    pages use it to pair the pruned model's nodes with the unpruned
    ones)."""
    if any(isinstance(layer, ANDCPrune) for layer in model.layers):
        model = strip(model)
    return _plan(model)[2]


def shrink(model, return_report=False):
    """Removes the units a pruned CCT no longer uses; same outputs.

    Args:
        model: a CCT from `build_cct`, masked (`ANDCPrune` layers, stripped
            first) or already stripped.
        return_report: also return `{name: removed count}`: units per FF
            hidden layer, value nodes per attention layer, and whole heads
            per encoder (under `{encoder name}_heads`).

    Returns:
        A smaller functional model with the same layer names and the same
        outputs in inference (up to float rounding), and the report when
        asked.

    Example:
    ```python
    small = shrink(strip(pruned))
    small.count_params() < pruned.count_params()
    ```
    """
    if any(isinstance(layer, ANDCPrune) for layer in model.layers):
        model = strip(model)
    plan, report, _ = _plan(model)

    def clone(layer):
        config = plan.get(layer.name, (None, None))[0]
        return layer.__class__.from_config(config or layer.get_config())

    small = keras.models.clone_model(model, clone_function=clone)
    for layer in model.layers:
        if not layer.weights:
            continue
        new = small.get_layer(layer.name)
        if layer.name in plan:
            new.set_weights(plan[layer.name][1])
        else:
            new.set_weights(layer.get_weights())
    return (small, report) if return_report else small
