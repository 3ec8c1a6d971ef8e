"""Physical shrinking of keras-hub's ViT (`ViTEncoder` blocks): MLP hidden
units, with one `mlp_dim` for all blocks (see `any_shrink.py`)."""

import numpy as np
from keras import ops

from keras_snp.pruning.shrink_plan import Plan
from keras_snp.pruning.shrink_plan import rebuilt


def vit_encoders(model):
    from keras_snp.sites.adapters import walk

    return [
        (path, layer)
        for path, layer in walk(model)
        if type(layer).__name__ == "ViTEncoder"
        and hasattr(layer, "encoder_layers")
    ]


def _mlp_units(plan, dense_1, dense_2):
    """Which hidden units of a two-Dense MLP stay (constants folded)."""
    w1 = plan.get(dense_1.kernel)
    w2 = plan.get(dense_2.kernel)
    b1 = plan.get(dense_1.bias) if dense_1.use_bias else np.zeros(w1.shape[1])
    const = ops.convert_to_numpy(
        dense_1.activation(ops.convert_to_tensor(b1, "float32"))
    )
    no_out, no_in = ~w2.any(axis=1), ~w1.any(axis=0)
    zero = const == 0
    remove = no_out | (no_in & (zero | dense_2.use_bias))
    folded = remove & ~no_out & ~zero
    if folded.any():
        plan.set(
            dense_2.bias, plan.get(dense_2.bias) + const[folded] @ w2[folded]
        )
    return ~remove


def _silence(plan, dense_1, dense_2, units):
    """Zeroes the weights of hidden `units` (a padded unit is `gelu(0)`)."""
    w1 = plan.get(dense_1.kernel).copy()
    w1[:, units] = 0.0
    plan.set(dense_1.kernel, w1)
    if dense_1.use_bias:
        b1 = plan.get(dense_1.bias).copy()
        b1[units] = 0.0
        plan.set(dense_1.bias, b1)
    w2 = plan.get(dense_2.kernel).copy()
    w2[units] = 0.0
    plan.set(dense_2.kernel, w2)


def _set_mlp_dim(config, mlp_dim):
    """Sets `mlp_dim` in the (nested) backbone config; True when found."""
    if isinstance(config, list):
        return any([_set_mlp_dim(v, mlp_dim) for v in config])
    if not isinstance(config, dict):
        return False
    if "mlp_dim" in config and "num_heads" in config:
        config["mlp_dim"] = mlp_dim
        return True
    return any([_set_mlp_dim(v, mlp_dim) for v in config.values()])


def shrink_vit(model, encoders):
    plan = Plan()
    mlps, keeps = [], []
    for path, encoder in encoders:
        for block in encoder.encoder_layers:
            dense_1, dense_2 = block.mlp.dense_1, block.mlp.dense_2
            name = "/".join((*path, block.name, "mlp"))
            at_zero = dense_1.activation(ops.zeros((1,)))
            if ops.convert_to_numpy(at_zero).any():
                return None  # padded units would not be silent
            mlps.append((name, dense_1, dense_2))
            keeps.append(_mlp_units(plan, dense_1, dense_2))
    if len({k.size for k in keeps}) != 1:
        return None  # one `mlp_dim` cannot hold two widths
    width = max(1, *(int(k.sum()) for k in keeps))
    if width == keeps[0].size:
        return None
    for (name, dense_1, dense_2), keep in zip(mlps, keeps):
        plan.report[name] = int(keep.size - width)
        padding = np.flatnonzero(~keep)[: width - int(keep.sum())]
        if padding.size:
            _silence(plan, dense_1, dense_2, padding)
            keep = keep.copy()
            keep[padding] = True
        plan.set(dense_1.kernel, plan.get(dense_1.kernel)[:, keep])
        if dense_1.use_bias:
            plan.set(dense_1.bias, plan.get(dense_1.bias)[keep])
        plan.set(dense_2.kernel, plan.get(dense_2.kernel)[keep])
    config = model.get_config()
    if not _set_mlp_dim(config, width):
        return None

    def build():
        small = model.__class__.from_config(config)
        small(np.zeros((1, *model.inputs[0].shape[1:]), "float32"))
        return small

    return rebuilt(model, plan, build), plan.report
