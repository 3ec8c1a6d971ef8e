"""ANDC masks from SNP, the random and magnitude controls, prune and strip.

METHOD.md section 4. A mask is a 0/1 array of a Dense kernel's shape,
`(inputs, outputs)`; masks travel as `{layer name: bool array}`.

Which SNP sets stand for which side of each layer of a CCT built by
`build_cct` (`L` encoders, `l` from 1):

- `classifier` (scope `readout`): its inputs are the sequence-pooled
  `final_norm` stream, whose units are the residual units of the last
  encoder. The sets come from the first tap present among `sequence_pool`,
  `final_norm`, `encoder_{L}_out`. Weight `(d, c)` is kept iff `c in D_d`.
- `encoder_{l}_ff_hidden` (scope `internal`): inputs are the output of
  `encoder_{l}_norm` (the residual after the attention sub-block); sets from
  the first tap present among `encoder_{l}_norm`, `encoder_{l}_attn_add`,
  `encoder_{l-1}_out` (METHOD.md's `res_{l-1}`); outputs
  `encoder_{l}_ff_hidden`.
- `encoder_{l}_ff_out`: `encoder_{l}_ff_hidden` -> `encoder_{l}_out`.
- `encoder_{l}_attn_proj`: `encoder_{l}_mha` -> the residual it is added
  to, sets from the first of `encoder_{l}_attn_add`, `encoder_{l}_norm`,
  `encoder_{l}_out`.
  Internal weights `(u, v)` are kept iff `D_u` and `D_v` share a label.
A layer is skipped when a side has no SNP tap. `encoder_{l}_qkv` is never
masked (queries and keys have no SNP sets).
"""

import logging

import keras
import numpy as np

from keras_snp.models.cct import num_encoders
from keras_snp.pruning.wrapper import ANDCPrune

logger = logging.getLogger(__name__)

SCOPES = ("readout", "internal", "all")


def _first_tap(snp_result, names):
    for name in names:
        if name and name in snp_result.taps:
            return snp_result.taps[name]
    return None


def layer_sides(model, snp_result):
    """`{layer: (input tap, output tap or None)}` for every prunable layer.

    The output tap is None for the classifier (its outputs are the labels).
    Layers with a side lacking an SNP tap are left out.
    """
    last = num_encoders(model)
    sides = {}
    readout_in = _first_tap(
        snp_result, ["sequence_pool", "final_norm", f"encoder_{last}_out"])
    if readout_in is not None:
        sides["classifier"] = (readout_in, None)
    for l in range(1, last + 1):
        p = f"encoder_{l}_"
        previous = f"encoder_{l - 1}_out" if l > 1 else None
        residual_mid = [p + "attn_add", p + "norm", p + "out"]
        pairs = {
            p + "attn_proj": ([p + "mha"], residual_mid),
            p + "ff_hidden": ([p + "norm", p + "attn_add", previous],
                              [p + "ff_hidden"]),
            p + "ff_out": ([p + "ff_hidden"], [p + "out"]),
        }
        for layer, (inputs, outputs) in pairs.items():
            tap_in = _first_tap(snp_result, inputs)
            tap_out = _first_tap(snp_result, outputs)
            if tap_in is not None and tap_out is not None:
                sides[layer] = (tap_in, tap_out)
    return sides


def connection_masks(model, snp_result, theta=None, scope="all"):
    """The ANDC masks of a CCT from its SNP result.

    Args:
        model: a CCT from `build_cct` (plain or wrapped).
        snp_result: a `keras_snp.snp.SNPResult` of that model.
        theta: SNP threshold (default: the result's own `theta`).
        scope: `"readout"` (classifier), `"internal"` (FF and attention
            projection inside the encoders) or `"all"`.

    Returns:
        `{layer name: (inputs, outputs) bool mask}`.

    Example:
    ```python
    masks = connection_masks(model, snp_result, scope="readout")
    masks["classifier"].sum(axis=1)  # |D_d| per node
    ```
    """
    if scope not in SCOPES:
        raise ValueError(
            f"`scope` must be one of {SCOPES}. Received: scope={scope!r}")
    theta = snp_result.theta if theta is None else theta
    masks = {}
    for name, (tap_in, tap_out) in layer_sides(model, snp_result).items():
        is_readout = name == "classifier"
        if (scope == "readout" and not is_readout) or (
                scope == "internal" and is_readout):
            continue
        kernel_shape = _kernel(model.get_layer(name)).shape
        d_in = tap_in.diagonal_mask(theta)
        if tap_out is None:
            mask = d_in
        else:
            d_out = tap_out.diagonal_mask(theta).astype("float32")
            mask = d_in.astype("float32") @ d_out.T > 0
        if mask.shape != tuple(kernel_shape):
            raise ValueError(
                f"SNP taps {tap_in.name!r} / "
                f"{getattr(tap_out, 'name', 'labels')!r} give a "
                f"{mask.shape} mask, but layer {name!r} has a "
                f"{tuple(kernel_shape)} kernel: was the SNP computed on "
                "this model?"
            )
        masks[name] = mask
    if not masks:
        raise ValueError(
            f"No layer of scope {scope!r} has SNP sets on both sides: "
            f"the result holds taps {sorted(snp_result.taps)}."
        )
    return masks


def random_masks(masks, seed=0):
    """The random control: same number of kept connections per input node.

    Each input node (kernel row) keeps as many outgoing connections as its
    ANDC mask, to outputs drawn uniformly at random (seeded). For the
    classifier this is "the same number of labels per node".
    """
    rng = np.random.default_rng(seed)
    out = {}
    for name, mask in masks.items():
        mask = np.asarray(mask, bool)
        shuffled = np.zeros_like(mask)
        for row, count in enumerate(mask.sum(axis=1)):
            cols = rng.choice(mask.shape[1], size=int(count), replace=False)
            shuffled[row, cols] = True
        out[name] = shuffled
    return out


def magnitude_masks(model, masks):
    """The magnitude control: per layer, the largest |w| at equal sparsity.

    Each layer keeps exactly as many connections as its ANDC mask, chosen
    by the absolute value of the model's current kernel (ties by position).
    """
    out = {}
    for name, mask in masks.items():
        kernel = np.abs(_kernel_numpy(model.get_layer(name)))
        count = int(np.count_nonzero(mask))
        order = np.argsort(-kernel, axis=None, kind="stable")[:count]
        keep = np.zeros(kernel.size, bool)
        keep[order] = True
        out[name] = keep.reshape(kernel.shape)
    return out


def _kernel(layer):
    return layer.layer.kernel if isinstance(layer, ANDCPrune) else layer.kernel


def _kernel_numpy(layer):
    if isinstance(layer, ANDCPrune):
        return keras.ops.convert_to_numpy(layer.masked_kernel())
    return keras.ops.convert_to_numpy(layer.kernel)


def _copy_layer(layer):
    return layer.__class__.from_config(layer.get_config())


def _clone(model, replace, load):
    """Clones `model` layer by layer: `replace(layer)` makes the new layer,
    `load(old, new)` fills its weights (layer names are kept)."""
    clone = keras.models.clone_model(model, clone_function=replace)
    for layer in model.layers:
        if layer.weights:
            load(layer, clone.get_layer(layer.name))
    return clone


def prune(model, snp_result=None, theta=None, scope="all", masks=None):
    """A copy of `model` with masked Dense layers (`ANDCPrune`).

    Args:
        model: a CCT from `build_cct`.
        snp_result: its `SNPResult` (used when `masks` is None).
        theta: SNP threshold (default: the result's).
        scope: `"readout"`, `"internal"` or `"all"`.
        masks: `{layer name: mask}` to apply instead (e.g. a control).

    Returns:
        A functional clone with the same layer names and weights, the
        masked layers wrapped in `ANDCPrune`.

    Example:
    ```python
    pruned = prune(model, snp_result, scope="all")
    pruned.get_layer("classifier").sparsity
    ```
    """
    if masks is None:
        if snp_result is None:
            raise ValueError("Pass `snp_result` or `masks` to `prune`.")
        masks = connection_masks(model, snp_result, theta, scope)
    for name in masks:
        layer = model.get_layer(name)
        if not isinstance(layer, (keras.layers.Dense,
                                  keras.layers.EinsumDense)):
            raise ValueError(
                f"`masks` names layer {name!r}, a {type(layer).__name__}: "
                "only Dense / EinsumDense layers can be pruned.")

    def clone(layer):
        if layer.name in masks:
            return ANDCPrune(_copy_layer(layer), name=layer.name)
        return _copy_layer(layer)

    def load(layer, new):
        if isinstance(new, ANDCPrune):
            new.layer.set_weights(layer.get_weights())
            new.set_mask(masks[layer.name])
        else:
            new.set_weights(layer.get_weights())

    return _clone(model, clone, load)


def strip(model):
    """Bakes the masks in: plain layers whose kernels are `kernel * mask`.

    Example:
    ```python
    plain = strip(pruned)  # same outputs, no ANDCPrune left
    ```
    """
    def clone(layer):
        if isinstance(layer, ANDCPrune):
            return _copy_layer(layer.layer)
        return _copy_layer(layer)

    def load(layer, new):
        if isinstance(layer, ANDCPrune):
            weights = layer.layer.get_weights()
            weights[0] = _kernel_numpy(layer)
            new.set_weights(weights)
        else:
            new.set_weights(layer.get_weights())

    return _clone(model, clone, load)


def mask_report(model):
    """`{layer: {kept, total, sparsity}}` for every `ANDCPrune` layer."""
    report = {}
    for layer in model.layers:
        if isinstance(layer, ANDCPrune):
            total = int(np.prod(layer.mask.shape))
            report[layer.name] = {
                "kept": layer.kept,
                "total": total,
                "sparsity": layer.sparsity,
            }
    return report
