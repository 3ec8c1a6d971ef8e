"""The hooked model: any site's activations, and any nodes silenced.

The Keras counterpart of TransformerLens's hooks. Keras 3 has no forward
hooks, so a hook here replaces, for the duration of one call, the `call`
of the layer that holds the site (for a `"heads"` site, the `call` of the
attention's output projection, whose input is the per-head tensor). The
replacement multiplies the site's tensor by a node mask and records it,
then carries on with the layer's own computation. Because it sits inside
the call that Keras traces (`tf.function`, `jax.jit`), the same hooks work
on TensorFlow, JAX and torch, eager or compiled.

The model itself is never rebuilt: weights are shared, and the hook is
gone when the call returns.
"""

import contextlib

import keras
import numpy as np
from keras import ops


def layer_at(model, path):
    """The layer at `path` (names from `model` down), nested or not."""
    layer = model
    for depth, name in enumerate(path):
        children = {
            child.name: child
            for child in layer._flatten_layers(
                include_self=False, recursive=False
            )
        }
        if name not in children:
            where = "/".join(path[:depth]) or model.name
            raise ValueError(
                f"`{where}` has no layer named `{name}`; it holds: "
                f"{', '.join(children) or 'no layers'}. Received: "
                f"path={'/'.join(path)!r}"
            )
        layer = children[name]
    return layer


def output_projection(attention):
    """The output `EinsumDense` of a `keras.layers.MultiHeadAttention`;
    its input is the per-head tensor `(batch, tokens, heads, head_dim)`."""
    projection = getattr(attention, "_output_dense", None)
    if projection is None:
        raise ValueError(
            f"Layer `{attention.name}` ({type(attention).__name__}) has no "
            "output projection: a `heads` site needs a "
            "keras.layers.MultiHeadAttention."
        )
    return projection


def _target(model, site):
    layer = layer_at(model, site.path)
    if site.point == "heads":
        return output_projection(layer), "input"
    return layer, site.point


def node_mask(site, silenced):
    """`(nodes,)` float32: zero at the `silenced` node indices, else one."""
    mask = np.ones(site.nodes, dtype="float32")
    silenced = np.asarray(silenced, dtype="int64").reshape(-1)
    if silenced.size and (silenced.min() < 0 or silenced.max() >= site.nodes):
        raise ValueError(
            f"Nodes of `{site.name}` are 0..{site.nodes - 1}. Received: "
            f"nodes={silenced.tolist()}"
        )
    mask[silenced] = 0.0
    return mask


def _masked(x, mask, site):
    if mask is None:
        return x
    shape = site.shape[-2:] if site.point == "heads" else site.shape[-1:]
    return x * ops.cast(ops.reshape(mask, shape), x.dtype)


def _through(x, entries):
    """`x` masked by every entry's mask, then recorded in every store."""
    for site, store, mask in entries:
        x = _masked(x, mask, site)
    for site, store, mask in entries:
        if store is not None:
            store[site.name] = x
    return x


def _hook(original, entries):
    """A `call` that passes the layer's first input through
    `entries["input"]` and its (first) output through
    `entries["output"]`."""

    def call(*args, **kwargs):
        if entries["input"]:
            if args:
                args = (_through(args[0], entries["input"]), *args[1:])
            else:
                kwargs["inputs"] = _through(kwargs["inputs"], entries["input"])
        outputs = original(*args, **kwargs)
        if not entries["output"]:
            return outputs
        if isinstance(outputs, (tuple, list)):
            first = _through(outputs[0], entries["output"])
            return type(outputs)([first, *outputs[1:]])
        return _through(outputs, entries["output"])

    return call


# Hooks active on a layer: layer id -> {"input": [...], "output": [...]} of
# `(site, store, mask)`. Several blocks may hook one layer at once
# (`run_with_cache` inside `ablate`): masks apply in the order the blocks
# were entered, then every store sees the masked tensor.
_ACTIVE = {}


@contextlib.contextmanager
def hooked(model, sites, store=None, masks=None):
    """Within the block, calls of `model` record and mask the sites.

    Args:
        model: the Keras model holding the sites.
        sites: `Site`s to hook.
        store: a dict that receives `{site.name: tensor}` on every call
            (None records nothing).
        masks: `{site.name: (nodes,) array}` multiplied into the site's
            tensor (missing: no mask).
    """
    masks = masks or {}
    sites = list(sites)
    names = [site.name for site in sites]
    if len(set(names)) != len(names):
        raise ValueError(f"Each site may be named once. Received: {names}")
    added = []
    try:
        for site in sites:
            mask = masks.get(site.name)
            if store is None and mask is None:
                continue
            target, where = _target(model, site)
            entries = _ACTIVE.get(id(target))
            if entries is None:
                entries = _ACTIVE[id(target)] = {"input": [], "output": []}
                hook = _hook(target.call, entries)
                object.__setattr__(target, "call", hook)
            entry = (site, store, mask)
            entries[where].append(entry)
            added.append((target, where, entry))
        yield
    finally:
        for target, where, entry in reversed(added):
            entries = _ACTIVE[id(target)]
            side = entries[where]
            del side[next(i for i, e in enumerate(side) if e is entry)]
            if not entries["input"] and not entries["output"]:
                del _ACTIVE[id(target)]
                object.__delattr__(target, "call")


class _Probe(keras.Model):
    """`model`'s output followed by every site's tensor."""

    def __init__(self, model, sites):
        super().__init__(name=f"{model.name}_probe")
        self.probed = model
        self.sites = list(sites)

    def call(self, inputs):
        store = {}
        with hooked(self.probed, self.sites, store=store):
            outputs = self.probed(inputs, training=False)
        missing = [s.name for s in self.sites if s.name not in store]
        if missing:
            raise ValueError(
                f"Sites {missing} were not reached by a call of "
                f"`{self.probed.name}`: is their layer used by the model?"
            )
        return [outputs, *(store[s.name] for s in self.sites)]


class SiteModel(keras.Model):
    """The sites' tensors of `model` as `(batch, tokens, nodes)` outputs
    (what the SNP engine reads of a model no functional graph exposes)."""

    def __init__(self, model, sites, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{model.name}_sites"))
        self.probe = _Probe(model, sites)
        self.sites = list(sites)

    def call(self, inputs, training=False):
        if isinstance(inputs, (list, tuple)) and len(inputs) == 1:
            inputs = inputs[0]
        tensors = self.probe(inputs)[1:]
        return [
            ops.reshape(t, (-1, site.tokens, site.nodes))
            for site, t in zip(self.sites, tensors)
        ]


def run_with_cache(model, x, sites, batch_size=64):
    """The model's outputs and every site's activations for inputs `x`.

    Args:
        model: a built Keras model.
        x: inputs as `model.predict` takes them (an array, or a dataset of
            `(inputs, labels)` batches).
        sites: `Site`s of `model`.
        batch_size: batch size when `x` is an array.

    Returns:
        `(outputs, cache)`: the model's outputs as numpy, and
        `{site.name: numpy array (n, *site.shape)}`.
    """
    sites = list(sites)
    probe = _Probe(model, sites)
    results = probe.predict(x, batch_size=batch_size, verbose=0)
    return results[0], {s.name: r for s, r in zip(sites, results[1:])}


def _forget_compiled(model):
    """Drops the model's traced predict/test/train functions, so the next
    call traces again (with or without the hooks)."""
    for name in ("predict_function", "test_function", "train_function"):
        if getattr(model, name, None) is not None:
            setattr(model, name, None)


@contextlib.contextmanager
def ablate(model, silenced):
    """Within the block, the given nodes of `model` output zero.

    Args:
        model: a built Keras model.
        silenced: `{Site: node indices}` (use `site.nodes_of_heads(...)`
            for whole heads).

    Example:
    ```python
    with ablate(model, {site: site.nodes_of_heads([0])}):
        silenced_logits = model.predict(images)
    ```
    """
    sites = list(silenced)
    masks = {s.name: node_mask(s, silenced[s]) for s in sites}
    _forget_compiled(model)
    try:
        with hooked(model, sites, masks=masks):
            yield model
    finally:
        _forget_compiled(model)


def per_label(correct, labels, num_classes):
    """`(..., K)` accuracy per true label; NaN for labels with no example.

    `correct` is `(..., B)` bool, `labels` `(B,)` int.
    """
    correct = np.asarray(correct, dtype=np.float64)
    one_hot = np.eye(num_classes)[labels]  # (B, K)
    hits = correct @ one_hot
    totals = one_hot.sum(axis=0)
    return np.divide(
        hits, totals, out=np.full(hits.shape, np.nan), where=totals > 0
    )


def per_label_accuracy(model, data, num_classes):
    """`(K,)` accuracy of `model` per true label over `data`, an iterable
    of `(images, labels)` batches (labels int or one-hot); NaN for a label
    with no image."""
    correct, seen = [], []
    for images, labels in data:
        labels = np.asarray(labels)
        if labels.ndim == 2:
            labels = labels.argmax(-1)
        # the compiled predict step: one trace serves every batch and, for
        # an `AblationModel`, every mask (its masks are variables); an
        # eager call costs about 3x on CPU
        logits = ops.convert_to_numpy(model.predict_on_batch(images))
        correct.append(logits.argmax(-1) == labels)
        seen.append(labels)
    return per_label(np.concatenate(correct), np.concatenate(seen), num_classes)


def ablation_effect(model, data, silenced, num_classes):
    """Per-label accuracy change `(K,)` when `silenced` (`{Site: nodes}`)
    output zero: ablated minus intact."""
    data = list(data) if iter(data) is data else data
    intact = per_label_accuracy(model, data, num_classes)
    with ablate(model, silenced):
        ablated = per_label_accuracy(model, data, num_classes)
    return ablated - intact
