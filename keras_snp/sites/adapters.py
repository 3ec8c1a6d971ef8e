"""Adapters: where the nodes of an architecture are.

One adapter per architecture, each with `matches(model)` and
`sites(model)`; `detect` tries them in registry order (most specific
first) and `find_sites` returns the first match's sites. A model no
adapter reads gets one error that says what was looked for and how to
name sites by hand (`sites_of_layers`).

- `CCTAdapter` (`cct.py`): keras_snp's CCT, by its layer names; the one
  home of those names, asked by the SNP taps and the pruning of a CCT.
- `AttentionAdapter`: any model with `keras.layers.MultiHeadAttention`,
  top-level or nested in a block layer (keras-hub's `ViTEncoderBlock`,
  itself inside the backbone): per block the per-head attention output
  (before its output projection), the hidden layer of its MLP (a Dense
  with a nonlinear activation) and the output of the layer that holds the
  attention.
- `ConvAdapter`: a CNN (e.g. `keras.applications.VGG16(weights=None)`):
  every `Conv2D`, grouped in blocks by a `block{N}_` name prefix.
"""

import re

import keras
import numpy as np
from keras import ops

from keras_snp.sites.cct import CCT
from keras_snp.sites.hooks import hooked
from keras_snp.sites.hooks import layer_at
from keras_snp.sites.site import heads_site
from keras_snp.sites.site import input_site
from keras_snp.sites.site import output_site

_BLOCK_PREFIX = re.compile(r"^block(\d+)_")


def walk(layer, path=()):
    """`(path, layer)` of every layer below `layer`, depth first, in the
    order the layers were created."""
    for child in layer._flatten_layers(include_self=False, recursive=False):
        yield path + (child.name,), child
        yield from walk(child, path + (child.name,))


def layers_of(model, kind):
    """`(path, layer)` of every layer of class `kind` below `model`."""
    return [(p, layer) for p, layer in walk(model) if isinstance(layer, kind)]


def _is_hidden_dense(layer):
    activation = getattr(layer, "activation", None)
    name = getattr(activation, "__name__", "linear")
    return isinstance(layer, keras.layers.Dense) and name != "linear"


def _probe_input(model):
    shape = tuple(model.inputs[0].shape[1:])
    if any(d is None for d in shape):
        raise ValueError(
            f"The input of `{model.name}` has unknown sizes {shape}: build "
            "the model with a fixed input shape to find its sites. "
            f"Received: model={model.name!r}"
        )
    return np.zeros((1, *shape), dtype="float32")


def _shapes(model, proto):
    """The shape (without batch) of each proto-site's tensor, from one
    call on a zero image."""
    store = {}
    with hooked(model, proto, store=store):
        model(_probe_input(model), training=False)
    return {name: tuple(ops.shape(t)[1:]) for name, t in store.items()}


class _ByLayerClass:
    """An adapter that reads a model holding layers of one class."""

    layer_class = None

    def _found(self, model):
        return layers_of(model, self.layer_class)

    def matches(self, model):
        return bool(self._found(model))


class AttentionAdapter(_ByLayerClass):
    """Any model built from `keras.layers.MultiHeadAttention` blocks."""

    name = "attention"
    layer_class = keras.layers.MultiHeadAttention

    def sites(self, model):
        proto = []
        attentions = self._found(model)
        nested = all(len(path) > 1 for path, _ in attentions)
        for block, (path, attention) in enumerate(attentions, start=1):
            proto.append(
                heads_site(f"block_{block}_mha", path, (1, 1, 1), block)
            )
            scope = _block_layers(model, path, attentions, block, nested)
            hidden = [(p, x) for p, x in scope if _is_hidden_dense(x)]
            for index, (p, _) in enumerate(hidden):
                suffix = "" if len(hidden) == 1 else f"_{index + 1}"
                proto.append(
                    output_site(
                        f"block_{block}_ff{suffix}", p, (1,), "ff", block
                    )
                )
            if nested:
                proto.append(
                    output_site(
                        f"block_{block}_out", path[:-1], (1,), "res", block
                    )
                )
        return measured(model, proto)


def _block_layers(model, path, attentions, block, nested):
    """The layers of one block: everything inside the layer that directly
    holds the attention (nested), or the top-level layers from this
    attention to the next (a flat functional model)."""
    if nested:
        return list(walk(layer_at(model, path[:-1]), path[:-1]))
    top = [layer.name for layer in model.layers]
    start = top.index(path[0])
    stop = (
        top.index(attentions[block][0][0])
        if block < len(attentions)
        else len(top)
    )
    return [((name,), model.get_layer(name)) for name in top[start:stop]]


def _reshaped(site, shape):
    if site.point == "heads":
        return heads_site(site.name, site.path, shape, block=site.block)
    if site.point == "input":
        return input_site(site.name, site.path, shape, site.kind, site.block)
    return output_site(site.name, site.path, shape, site.kind, site.block)


def measured(model, proto):
    """`proto` sites (any shape) with the shapes of one call on a zero
    input."""
    shapes = _shapes(model, proto)
    return [_reshaped(site, shapes[site.name]) for site in proto]


class ConvAdapter(_ByLayerClass):
    """A CNN: every `Conv2D` is a site of kind `conv`."""

    name = "conv"
    layer_class = keras.layers.Conv2D

    def sites(self, model):
        proto = []
        for index, (path, conv) in enumerate(self._found(model), start=1):
            prefix = _BLOCK_PREFIX.match(conv.name)
            block = int(prefix.group(1)) if prefix else index
            proto.append(output_site(conv.name, path, (1,), "conv", block))
        return measured(model, proto)


ADAPTERS = [CCT, AttentionAdapter(), ConvAdapter()]


def register_adapter(adapter, first=True):
    """Adds an adapter (an object with `name`, `matches(model)` and
    `sites(model)`), tried before the built-in ones unless `first=False`."""
    for method in ("matches", "sites"):
        if not callable(getattr(adapter, method, None)):
            raise ValueError(
                f"An adapter needs a `{method}(model)` method. Received: "
                f"adapter={adapter!r}"
            )
    ADAPTERS.insert(0 if first else len(ADAPTERS), adapter)


def detect(model):
    """The first adapter that reads `model`."""
    for adapter in ADAPTERS:
        if adapter.matches(model):
            return adapter
    looked_for = "; ".join(
        f"{a.name}: {(a.__doc__ or '').strip().splitlines()[0]}"
        for a in ADAPTERS
    )
    raise ValueError(
        f"No adapter reads model `{model.name}`. Looked for: {looked_for}. "
        "Name the layers whose outputs hold the nodes with "
        "`sites_of_layers(model, [names])`, or `register_adapter(...)`."
    )


def find_sites(model, adapter=None):
    """The sites of `model`, by `adapter` (a name or an adapter) or by the
    first adapter that reads it.

    Example:
    >>> inputs = keras.Input((4, 8))
    >>> x = keras.layers.MultiHeadAttention(2, 3, name="attn")(inputs, inputs)
    >>> x = keras.layers.Dense(16, activation="gelu", name="mlp")(x)
    >>> model = keras.Model(inputs, keras.layers.Dense(8)(x))
    >>> [(s.name, s.shape) for s in find_sites(model)]
    [('block_1_mha', (4, 2, 3)), ('block_1_ff', (4, 16))]
    """
    if adapter is None:
        adapter = detect(model)
    elif isinstance(adapter, str):
        known = {a.name: a for a in ADAPTERS}
        if adapter not in known:
            raise ValueError(
                f"`adapter` must be one of {sorted(known)}. Received: "
                f"adapter={adapter!r}"
            )
        adapter = known[adapter]
    sites = adapter.sites(model)
    if not sites:
        raise ValueError(
            f"Adapter `{adapter.name}` found no site in `{model.name}`."
        )
    return sites


def sites_of_layers(model, names, kind="other"):
    """Sites at the outputs of the named layers (`"outer/inner"` for a
    nested one), for a model no adapter reads."""
    proto = [
        output_site(name, tuple(name.split("/")), (1,), kind) for name in names
    ]
    return measured(model, proto)
