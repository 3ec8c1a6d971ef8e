"""Physical shrinking of a pruned CCT.

After the masks are baked in (`andc.strip`), a unit whose every outgoing
weight is zero never reaches the output, and a unit whose every incoming
weight is zero holds the constant `act(bias)`. Both can be removed
exactly; the constant's contribution is folded into the next layer's bias
first. What `shrink` removes in each encoder `l`:

- FF hidden units of `encoder_{l}_ff_hidden` (rows of `encoder_{l}_ff_out`);
- value nodes of `encoder_{l}_mha` (their `encoder_{l}_qkv` value columns and
  `encoder_{l}_attn_proj` rows; a value node without input is the constant
  value bias, since attention weights sum to one), through
  `PerHeadAttention.value_dims`;
- whole heads whose every value node is gone: `num_heads` drops and the
  head's query and key columns of `encoder_{l}_qkv` go too.

Residual-stream units (inputs of `ff_hidden`, `qkv`, the classifier, and
outputs of `attn_proj`, `ff_out`) are never removed: the residual additions
and the LayerNorms couple every unit of the stream, so a zero column there
does not make a unit removable. Labels are never removed either.

`count_flops` is `keras_snp.models.flops.count_flops`, re-exported here
for the callers that import it from the pruning package.
"""

import keras
import numpy as np
from keras import ops

from keras_snp.models.cct import num_encoders
from keras_snp.models.flops import count_flops
from keras_snp.pruning.andc import strip
from keras_snp.pruning.wrapper import ANDCPrune

__all__ = ["count_flops", "shrink"]


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


def _shrink_ff(model, p):
    hidden = model.get_layer(p + "ff_hidden")
    out = model.get_layer(p + "ff_out")
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
        p + "ff_hidden": (config, hidden_weights),
        p + "ff_out": (None, out_weights),
    }


def _shrink_attention(model, p):
    qkv = model.get_layer(p + "qkv")
    mha = model.get_layer(p + "mha")
    proj = model.get_layer(p + "attn_proj")
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
    return {
        p + "qkv": ({**qkv.get_config(), "units": len(columns)}, qkv_weights),
        p + "mha": (mha_config, []),
        p + "attn_proj": (None, proj_weights),
    }, heads - len(kept_heads)


def shrink(model, return_report=False):
    """Removes the units a pruned CCT no longer uses; same outputs.

    Args:
        model: a CCT from `build_cct`, masked (`ANDCPrune` layers, stripped
            first) or already stripped.
        return_report: also return `{layer: removed count}`.

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
    plan, report = {}, {}
    for l in range(1, num_encoders(model) + 1):
        p = f"encoder_{l}_"
        ff_plan = _shrink_ff(model, p)
        att_plan, removed_heads = _shrink_attention(model, p)
        plan.update(ff_plan)
        plan.update(att_plan)
        report[p + "ff_hidden"] = (
            model.get_layer(p + "ff_hidden").units
            - plan[p + "ff_hidden"][0]["units"]
        )
        report[p + "mha"] = sum(model.get_layer(p + "mha").value_dims) - sum(
            plan[p + "mha"][0]["value_dims"]
        )
        report[p + "heads"] = removed_heads

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
