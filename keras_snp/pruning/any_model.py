"""ANDC on any Keras model: each kernel layer keeps the connections whose
ends share a label (METHOD.md section 4), from the SNP of exactly the
tensor the layer reads and the tensor it writes.

A `Connection` is one prunable layer (a `Dense`, a `Conv2D`, or the output
projection of a `keras.layers.MultiHeadAttention`, whose input is the
per-head tensor), with the site of its input and the site of its output.
The classifier (the layer whose output is the model's) keeps `(d, c)` iff
`c` is in `D_d`; every other layer keeps `(u, v)` iff `D_u` and `D_v`
share a label. A `Conv2D` mask is `(in, out)` channels, the same at every
kernel position; a projection's `(heads * head_dim, out)` mask is laid
over its `(heads, head_dim, out)` kernel.

Masks are applied by zeroing kernel entries of a copy of the model (no
wrapper layer, so nested layers are pruned in place and the copy saves
and loads like the original); `KeepMasks` holds them at zero through a
fine-tune.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_snp.pruning.andc import random_masks
from keras_snp.pruning.scopes import METHODS
from keras_snp.sites.adapters import measured
from keras_snp.sites.adapters import walk
from keras_snp.sites.hooks import layer_at
from keras_snp.sites.hooks import output_projection
from keras_snp.sites.site import heads_site
from keras_snp.sites.site import input_site
from keras_snp.sites.site import output_site
from keras_snp.utils import check_one_of


@dataclasses.dataclass(frozen=True)
class Connection:
    """One prunable layer and the sites at its two ends.

    Attributes:
        layer: the layer's path, `"outer/inner"`.
        reads: the `Site` of its input.
        writes: the `Site` of its output, or None for the classifier.
    """

    layer: str
    reads: object
    writes: object

    @property
    def sites(self):
        return [s for s in (self.reads, self.writes) if s is not None]


def _kernel_layer(model, connection):
    layer = layer_at(model, tuple(connection.layer.split("/")))
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return output_projection(layer)
    return layer


def connections(model):
    """Every prunable layer of `model` with the sites it reads and writes.

    Prunable: each `Dense` and `Conv2D` whose input is not an image of
    the model's input shape (pixels carry no label sets), and the output
    projection of each
    `keras.layers.MultiHeadAttention` (its queries, keys and values are
    never masked: they have no SNP sets). The last top-level layer, when a
    `Dense`, is the classifier.
    """
    attention_parts = set()
    proto, layers = [], []
    classifier = model.layers[-1] if model.layers else None
    for path, layer in walk(model):
        name = "/".join(path)
        if isinstance(layer, keras.layers.MultiHeadAttention):
            attention_parts.update(
                id(sub) for sub in layer._flatten_layers(include_self=False)
            )
            reads = heads_site(f"{name}:in", path, (1, 1, 1))
            writes = output_site(f"{name}:out", path, (1,))
        elif isinstance(layer, (keras.layers.Dense, keras.layers.Conv2D)):
            if id(layer) in attention_parts:
                continue
            reads = input_site(f"{name}:in", path, (1,))
            writes = None
            if layer is not classifier:
                writes = output_site(f"{name}:out", path, (1,))
        else:
            continue
        layers.append((name, reads, writes))
        proto += [s for s in (reads, writes) if s is not None]
    sites = {site.name: site for site in measured(model, proto)}
    image = tuple(model.inputs[0].shape[1:])
    return [
        Connection(name, sites[r.name], sites[w.name] if w else None)
        for name, r, w in layers
        if not (len(image) == 3 and sites[r.name].shape == image)
    ]


def connection_sites(conns):
    """The sites whose SNP the masks of `conns` need, each once, in
    order: pass them as `compute_snp(..., taps=connection_sites(conns))`."""
    seen = {}
    for connection in conns:
        for site in connection.sites:
            seen.setdefault(site.name, site)
    return list(seen.values())


def andc_masks(conns, snp_result, theta=None):
    """`{layer path: (in nodes, out nodes) bool}` from the SNP sets."""
    theta = snp_result.theta if theta is None else theta
    missing = [
        s.name for s in connection_sites(conns) if s.name not in snp_result.taps
    ]
    if missing:
        raise ValueError(
            f"The SNP result lacks the sites {missing[:4]} the masks read: "
            "measure them with `compute_snp(..., taps=connection_sites("
            "connections(model)))`."
        )
    masks = {}
    for c in conns:
        d_in = snp_result.taps[c.reads.name].diagonal_mask(theta)
        if c.writes is None:
            masks[c.layer] = d_in
        else:
            d_out = snp_result.taps[c.writes.name].diagonal_mask(theta)
            masks[c.layer] = (
                d_in.astype("float32") @ d_out.astype("float32").T > 0
            )
    return masks


def _laid_over(kernel, mask):
    """The 2-D `(in, out)` mask broadcast to `kernel`'s shape."""
    if kernel.ndim == 2:
        return mask
    if kernel.ndim == 4:  # Conv2D (kh, kw, in, out)
        return np.broadcast_to(mask, kernel.shape)
    return mask.reshape(kernel.shape)  # (heads, head_dim, out)


def _as_2d(kernel, mask_shape):
    if kernel.ndim == 4:
        return np.abs(kernel).sum(axis=(0, 1))
    return np.abs(kernel).reshape(mask_shape)


def magnitude_masks(model, conns, masks):
    """Per layer, the largest |w| kept at the ANDC mask's sparsity (a
    Conv2D connection's magnitude sums its kernel positions)."""
    out = {}
    for c in conns:
        mask = masks[c.layer]
        kernel = ops.convert_to_numpy(_kernel_layer(model, c).kernel)
        weights = _as_2d(kernel, mask.shape).ravel()
        keep = int(mask.sum())
        chosen = np.zeros(weights.size, bool)
        chosen[np.argsort(-weights, kind="stable")[:keep]] = True
        out[c.layer] = chosen.reshape(mask.shape)
    return out


def control_masks(model, conns, masks, method, seed=0):
    """The masks of `method` at the ANDC masks' per-layer sparsity."""
    check_one_of("method", method, METHODS)
    if method == "andc":
        return masks
    if method == "random":
        return random_masks(masks, seed=seed)
    return magnitude_masks(model, conns, masks)


def apply_masks(model, conns, masks):
    """Zeroes the masked-out kernel entries of `model`'s layers in place."""
    by_layer = {c.layer: c for c in conns}
    for name, mask in masks.items():
        layer = _kernel_layer(model, by_layer[name])
        kernel = ops.convert_to_numpy(layer.kernel)
        if mask.size != kernel.size // max(1, _spatial(kernel)):
            raise ValueError(
                f"A {mask.shape} mask does not fit layer `{name}`'s "
                f"{kernel.shape} kernel: was the SNP measured on this model?"
            )
        layer.kernel.assign(kernel * _laid_over(kernel, mask))


def _spatial(kernel):
    return kernel.shape[0] * kernel.shape[1] if kernel.ndim == 4 else 1


def copy_model(model):
    """A copy of `model` with the same weights (layer names kept)."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


class KeepMasks(keras.callbacks.Callback):
    """Holds the masked-out kernel entries at zero after every training
    step (a projected gradient step), so a fine-tune keeps the masks."""

    def __init__(self, conns, masks):
        super().__init__()
        self.conns, self.masks = conns, masks

    def on_train_batch_end(self, batch, logs=None):
        apply_masks(self.model, self.conns, self.masks)


def dilution(masks):
    """`1 - kept / total` over all masks."""
    kept = sum(int(m.sum()) for m in masks.values())
    total = sum(int(m.size) for m in masks.values())
    return 1.0 - kept / max(total, 1)


@dataclasses.dataclass
class Pruned:
    """What `prune` returns.

    Attributes:
        model: the pruned copy (masked-out kernel entries are zero).
        masks: `{layer path: (in, out) bool}`.
        connections: the `Connection`s the masks belong to.
        dilution: share of connections removed over all masked layers.
        history: the fine-tune's `History`, or None.
    """

    model: object
    masks: dict
    connections: list
    dilution: float
    history: object = None

    def shrink(self, return_report=False):
        """The physically smaller model (`any_shrink.shrink_any`)."""
        from keras_snp.pruning.any_shrink import shrink_any

        return shrink_any(self.model, return_report=return_report)


def _fit_arguments(train_data):
    """`fit`'s data arguments and the labels' rank (1 int, 2 one-hot)."""
    if hasattr(train_data, "element_spec"):  # a tf.data.Dataset
        return {"x": train_data}, len(train_data.element_spec[1].shape)
    batches = list(train_data)
    x = np.concatenate([np.asarray(b[0]) for b in batches])
    y = np.concatenate([np.asarray(b[1]) for b in batches])
    return {"x": x, "y": y, "batch_size": len(batches[0][0])}, y.ndim


def _classifier_loss(model, label_rank):
    activation = getattr(model.layers[-1], "activation", None)
    from_logits = getattr(activation, "__name__", "linear") != "softmax"
    if label_rank == 2:
        return keras.losses.CategoricalCrossentropy(from_logits=from_logits)
    return keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits)


def prune(
    model,
    snp_result,
    train_data=None,
    *,
    theta=None,
    method="andc",
    fine_tune_epochs=0,
    learning_rate=1e-4,
    seed=0,
    conns=None,
):
    """A pruned copy of any model an adapter reads (or any model whose
    kernel layers `connections` finds).

    Args:
        model: the trained model (not modified).
        snp_result: SNP of `connection_sites(connections(model))`,
            measured on data that is not the test split.
        train_data: `(images, labels)` batches or a `tf.data.Dataset`, for
            the fine-tune.
        theta: SNP threshold (default: the result's).
        method: `"andc"`, or a control at the same per-layer sparsity:
            `"random"` (same kept count per input and output) or
            `"magnitude"` (largest |w|).
        fine_tune_epochs: epochs of AdamW at `learning_rate` with the masks
            held (0: none).
        seed: seed of the random control.
        conns: the `Connection`s (default: `connections(model)`).

    Returns:
        A `Pruned`.

    Example:
    ```python
    conns = keras_snp.pruning.any_model.connections(model)
    snp = keras_snp.snp.compute_snp(model, train, validation,
                                    taps=connection_sites(conns))
    pruned = keras_snp.prune(model, snp, train, fine_tune_epochs=2)
    pruned.model.save("pruned.keras")
    ```
    """
    conns = connections(model) if conns is None else conns
    masks = andc_masks(conns, snp_result, theta)
    masks = control_masks(model, conns, masks, method, seed)
    pruned = copy_model(model)
    apply_masks(pruned, conns, masks)
    history = None
    if fine_tune_epochs:
        if train_data is None:
            raise ValueError(
                "A fine-tune needs `train_data`. Received: "
                f"fine_tune_epochs={fine_tune_epochs}, train_data=None"
            )
        arguments, label_rank = _fit_arguments(train_data)
        pruned.compile(
            optimizer=keras.optimizers.AdamW(learning_rate),
            loss=_classifier_loss(pruned, label_rank),
        )
        history = pruned.fit(
            **arguments,
            epochs=fine_tune_epochs,
            callbacks=[KeepMasks(conns, masks)],
            verbose=0,
        )
    return Pruned(pruned, masks, conns, dilution(masks), history)
