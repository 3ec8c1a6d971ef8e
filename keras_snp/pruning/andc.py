"""ANDC masks from SNP, the random and magnitude controls, prune and strip.

METHOD.md section 4. A mask is a 0/1 array of a Dense kernel's shape,
`(inputs, outputs)`; masks travel as `{layer name: bool array}`.

Each masked layer of a CCT built by `build_cct` takes its sets from exactly
the tensors it reads and writes, each measured as an SNP tap
(`pruning_taps` lists them; rank-2 taps are one token). Which layers each
scope masks, and which taps they read and write, the `cct` adapter says
(`keras_snp.sites.cct`, `CCT.connection_sides`): scope `readout` is the
classifier, `ff` the two Dense layers of every encoder's MLP, `attn_proj`
every encoder's attention output projection.

The classifier keeps weight `(d, c)` iff `c in D_d`; an internal layer keeps
`(u, v)` iff `D_u` and `D_v` share a label. A scope is one of `readout`,
`ff`, `attn_proj`, a combination (`"readout+ff"` or `"readout,ff"`), or
`all` (the three); `internal` is kept as the old name of `ff+attn_proj`.
The attention's query-key-value projection is never masked (queries and
keys have no SNP sets). Masking `attn_proj` goes beyond the lab's conv
analogue (METHOD.md).
"""

import logging

import keras
import numpy as np

from keras_snp.pruning.scopes import LAYER_SCOPES
from keras_snp.pruning.scopes import SCOPES  # noqa: F401 (re-export)
from keras_snp.pruning.scopes import parse_scope
from keras_snp.pruning.scopes import scope_name
from keras_snp.pruning.wrapper import ANDCPrune
from keras_snp.sites.cct import CCT

logger = logging.getLogger(__name__)


def layer_scope(name):
    """The scope of a prunable layer name (the classifier's is `readout`),
    as the `cct` adapter says (`CCT.scope_of`)."""
    return CCT.scope_of(name)


def layer_sides(model, scope="all"):
    """`{layer: (input tap, output tap or None)}` for the layers of `scope`.

    Names only (no SNP needed): the tensors each layer reads and writes,
    from the `cct` adapter (`CCT.connection_sides`). The output tap is
    None for the classifier (its outputs are the labels).

    Example:
    >>> model = keras_snp.build_cct("cct_2_3x2", num_classes=10)
    >>> len(layer_sides(model, "ff")), len(layer_sides(model, "all"))
    (4, 7)
    >>> layer_sides(model, "readout") == CCT.connection_sides(
    ...     model, ("readout",))
    True
    """
    return CCT.connection_sides(model, parse_scope(scope))


def pruning_taps(model, scope="all"):
    """The SNP taps that the masks of `scope` need, in model order.

    Pass them to `compute_snp(..., taps=pruning_taps(model, scope))`.

    Example:
    >>> model = keras_snp.build_cct("cct_2_3x2", num_classes=10)
    >>> len(pruning_taps(model, "ff")), len(pruning_taps(model, "all"))
    (6, 11)
    """
    needed = set()
    for tap_in, tap_out in layer_sides(model, scope).values():
        needed.update(t for t in (tap_in, tap_out) if t)
    return [layer.name for layer in model.layers if layer.name in needed]


def connection_masks(model, snp_result, theta=None, scope="all"):
    """The ANDC masks of a CCT from its SNP result.

    Args:
        model: a CCT from `build_cct` (plain or wrapped).
        snp_result: a `keras_snp.snp.SNPResult` of that model holding every
            tap of `pruning_taps(model, scope)`.
        theta: SNP threshold (default: the result's own `theta`).
        scope: see `parse_scope`.

    Returns:
        `{layer name: (inputs, outputs) bool mask}`.

    Example:
    ```python
    result = compute_snp(model, train, validation,
                         taps=pruning_taps(model, "readout"))
    masks = connection_masks(model, result, scope="readout")
    masks[model.layers[-1].name].sum(axis=1)  # |D_d| per node
    ```
    """
    theta = snp_result.theta if theta is None else theta
    sides = layer_sides(model, scope)
    missing = [
        t for t in pruning_taps(model, scope) if t not in snp_result.taps
    ]
    if missing:
        raise ValueError(
            f"The SNP result lacks the taps {missing} that scope "
            f"{scope_name(scope)!r} reads: measure them with "
            "`compute_snp(..., taps=pruning_taps(model, scope))`. It "
            f"holds {sorted(snp_result.taps)}."
        )
    masks = {}
    for name, (tap_in, tap_out) in sides.items():
        kernel_shape = _kernel(model.get_layer(name)).shape
        d_in = snp_result.taps[tap_in].diagonal_mask(theta)
        if tap_out is None:
            mask = d_in
        else:
            d_out = snp_result.taps[tap_out].diagonal_mask(theta)
            mask = d_in.astype("float32") @ d_out.astype("float32").T > 0
        if mask.shape != tuple(kernel_shape):
            raise ValueError(
                f"SNP taps {tap_in!r} / {tap_out or 'labels'!r} give a "
                f"{mask.shape} mask, but layer {name!r} has a "
                f"{tuple(kernel_shape)} kernel: was the SNP computed on "
                "this model?"
            )
        masks[name] = mask
    return masks


def dilution(masks, scope=None):
    """`1 - kept / total` over the masks (of one `scope` if given).

    For the classifier this is METHOD.md's `1 - sum |D_d| / (n K)`.
    """
    parts = parse_scope(scope) if scope else LAYER_SCOPES
    chosen = [m for n, m in masks.items() if layer_scope(n) in parts]
    total = sum(int(np.size(m)) for m in chosen)
    if not total:
        return float("nan")
    return 1.0 - sum(int(np.count_nonzero(m)) for m in chosen) / total


def dilution_by_scope(masks):
    """`{scope: dilution}` for each layer scope present, and `"all"`."""
    present = {layer_scope(n) for n in masks}
    out = {s: dilution(masks, s) for s in LAYER_SCOPES if s in present}
    out["all"] = dilution(masks)
    return out


def random_masks(masks, seed=0, trades_per_row=20):
    """The random control: same kept connections per input *and* output.

    Each mask is randomised by curveball trades (Strona et al. 2014,
    Nat. Commun. 5:3114): pick two rows, pool the columns that only one
    of them holds, shuffle, and give each row back as many as it had.
    Every trade keeps each row's and each column's count, so every input
    node keeps as many connections as its ANDC mask (for the classifier:
    as many labels per node) and every output node (label) as many
    inputs, while which ones is random. Where the counts admit no other
    mask (e.g. full or empty rows only) the control equals ANDC; the
    stage reports the overlap.

    Args:
        masks: `{layer: bool mask}`.
        seed: seed of the trades.
        trades_per_row: trades per mask row (mixing length).

    Returns:
        `{layer: bool mask}` with the same row and column sums.
    """
    rng = np.random.default_rng(seed)
    return {
        name: _curveball(
            np.asarray(mask, bool), rng, trades_per_row * len(mask)
        )
        for name, mask in masks.items()
    }


def _curveball(mask, rng, trades):
    rows = [set(np.flatnonzero(row).tolist()) for row in mask]
    if len(rows) >= 2:
        pairs = rng.integers(0, len(rows), size=(trades, 2))
        for a, b in pairs:
            if a == b:
                continue
            only_a, only_b = rows[a] - rows[b], rows[b] - rows[a]
            if not only_a or not only_b:
                continue
            pool = np.array(sorted(only_a | only_b))
            rng.shuffle(pool)
            shared = rows[a] & rows[b]
            rows[a] = shared | set(pool[: len(only_a)].tolist())
            rows[b] = shared | set(pool[len(only_a) :].tolist())
    out = np.zeros_like(mask)
    for r, cols in enumerate(rows):
        out[r, sorted(cols)] = True
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
        scope: see `parse_scope`.
        masks: `{layer name: mask}` to apply instead (e.g. a control).

    Returns:
        A functional clone with the same layer names and weights, the
        masked layers wrapped in `ANDCPrune` (their pruned kernel entries
        set to exactly 0, so they stay 0 under gradient updates and
        decoupled weight decay).

    Example:
    ```python
    pruned = prune(model, snp_result, scope="all")
    pruned.layers[-1].sparsity  # the classifier's
    ```
    """
    if masks is None:
        if snp_result is None:
            raise ValueError("Pass `snp_result` or `masks` to `prune`.")
        masks = connection_masks(model, snp_result, theta, scope)
    for name in masks:
        layer = model.get_layer(name)
        if not isinstance(
            layer, (keras.layers.Dense, keras.layers.EinsumDense)
        ):
            raise ValueError(  # noqa: TRY004  (Keras: ValueError)
                f"`masks` names layer {name!r}, a {type(layer).__name__}: "
                "only Dense / EinsumDense layers can be pruned."
            )

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
