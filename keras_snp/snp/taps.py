"""Taps: the layer outputs whose nodes the SNP engine studies.

A tap is the output of one named layer of a functional Keras model, of rank
2 `(batch, units)`, rank 3 `(batch, tokens, units)` or rank 4
`(batch, height, width, channels)`. For rank 4 the `height * width`
positions play the role of tokens; a rank-2 tap (e.g. the CCT's
`sequence_pool`, the classifier's input) has one token, and `tap_model`
hands it on as `(batch, 1, units)` so every consumer sees tokens.
"""

import dataclasses

import numpy as np

from keras_snp.sites.adapters import find_sites
from keras_snp.sites.cct import CCT
from keras_snp.sites.cct import CCT_KIND as _KIND_OF_SUFFIX
from keras_snp.sites.cct import CCT_NAME as _NAME
from keras_snp.sites.cct import CCT_SUFFIX as _SUFFIX

DEFAULT_KINDS = ("mha", "ff", "res")


@dataclasses.dataclass(frozen=True)
class TapSpec:
    """One tap: where it is and how its nodes are laid out.

    Attributes:
        name: the layer whose output is the tap.
        kind: `"mha"`, `"ff"`, `"res"` or `"other"`.
        encoder: encoder index (from 1) for CCT taps, else None.
        head: `(nodes,)` int array, the head of each node (-1 outside MHA).
        tokens: tokens (or `height * width` positions) per node.
        nodes: units on the last axis.
        shape: the tap's shape without the batch axis.
        site: the `keras_snp.sites.Site` the tap reads when it came from an
            adapter (a nested layer, or the per-head input of an
            attention's output projection); None for a top-level layer.
    """

    name: str
    kind: str
    encoder: int | None
    head: np.ndarray = dataclasses.field(repr=False, compare=False)
    tokens: int
    nodes: int
    shape: tuple
    site: object = dataclasses.field(default=None, repr=False, compare=False)


def from_sites(sites):
    """`TapSpec`s reading the given `Site`s (the block is the encoder)."""
    return [
        TapSpec(
            site.name,
            site.kind,
            site.block,
            site.head,
            site.tokens,
            site.nodes,
            site.shape,
            site,
        )
        for site in sites
    ]


def _layer_names(model):
    return [layer.name for layer in model.layers]


def _spec(model, name):
    names = _layer_names(model)
    if name not in names:
        raise ValueError(
            f"Unknown tap layer `{name}`: the model has no layer of that "
            f"name. Pass one of: {', '.join(names)}. Received: taps={name!r}"
        )
    layer = model.get_layer(name)
    try:
        shape = tuple(layer.output.shape)
    except (AttributeError, ValueError) as error:
        raise ValueError(
            f"Tap layer `{name}` has no single output tensor (was it called "
            f"more than once?); pick a layer used once. Received: taps="
            f"{name!r}"
        ) from error
    if len(shape) not in (2, 3, 4) or any(d is None for d in shape[1:]):
        raise ValueError(
            f"Tap layer `{name}` must output a rank-2 `(batch, units)`, "
            "rank-3 `(batch, tokens, units)` or rank-4 `(batch, height, "
            "width, channels)` tensor with known sizes; its output shape is "
            f"{shape}. Pick another layer. Received: taps={name!r}"
        )
    nodes = int(shape[-1])
    tokens = int(np.prod(shape[1:-1]))  # 1 for a rank-2 tap
    match = _NAME.match(name)
    kind = _KIND_OF_SUFFIX[match.group(2)] if match else "other"
    encoder = int(match.group(1)) if match else None
    head = np.full((nodes,), -1, dtype="int32")
    if hasattr(layer, "head_of_node"):
        head = np.asarray(layer.head_of_node, dtype="int32")
        if kind == "other":
            kind = "mha"
    return TapSpec(name, kind, encoder, head, tokens, nodes, tuple(shape[1:]))


def resolve_taps(model, names):
    """Looks up taps by layer name, checking each output's rank.

    Args:
        model: a functional (or Sequential) Keras model.
        names: layer names, a single name, or `"all"` / None for the
            default CCT taps (`taps(model)`).

    Returns:
        A list of `TapSpec`, in the order given.

    Example:
    >>> cnn = keras.Sequential([keras.Input((8, 8, 3)),
    ...     keras.layers.Conv2D(4, 3, name="conv"),
    ...     keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(2)])
    >>> resolve_taps(cnn, ["conv"])[0].tokens
    36
    """
    if names is None or (isinstance(names, str) and names == "all"):
        if CCT.matches(model):
            return taps(model)
        return from_sites(find_sites(model))
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    names = list(names)
    if names and all(hasattr(n, "path") for n in names):
        return from_sites(names)
    if not names:
        raise ValueError(
            "`taps` must name at least one layer. Received: taps=[]"
        )
    if len(set(names)) != len(names):
        raise ValueError(f"`taps` names a layer twice. Received: taps={names}")
    top = set(_layer_names(model))
    if all(name in top for name in names):
        return [_spec(model, name) for name in names]
    sites = {site.name: site for site in find_sites(model)}
    return [
        _spec(model, name)
        if name in top or name not in sites
        # a name no layer has but an adapter's site does (`block_1_mha`)
        else from_sites([sites[name]])[0]
        for name in names
    ]


def taps(model, kinds=DEFAULT_KINDS):
    """The default taps of a CCT: per encoder `mha`, `ff` and `res`.

    Args:
        model: a CCT from `keras_snp.build_cct` (or any model with layers
            named `encoder_{l}_mha`, `encoder_{l}_ff_hidden`,
            `encoder_{l}_out`).
        kinds: which of `"mha"`, `"ff"`, `"res"` to list.

    Returns:
        A list of `TapSpec`, encoder by encoder, in the order of `kinds`.

    Example:
    >>> model = keras_snp.build_cct("cct_2_3x2", num_classes=10)
    >>> [t.name for t in taps(model, kinds=("mha",))]
    ['encoder_1_mha', 'encoder_2_mha']
    """
    kinds = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [k for k in kinds if k not in _SUFFIX]
    if unknown or not kinds:
        raise ValueError(
            f"`kinds` must be a non-empty subset of {list(_SUFFIX)}. "
            f"Received: kinds={kinds}"
        )
    names = set(_layer_names(model))
    specs, encoder = [], 1
    while f"encoder_{encoder}_out" in names:
        for kind in kinds:
            specs.append(_spec(model, f"encoder_{encoder}_{_SUFFIX[kind]}"))
        encoder += 1
    if not specs:
        raise ValueError(
            "The model has no CCT encoder layers (`encoder_1_out`, ...); "
            "pass tap layer names explicitly with `taps=[...]`. Received: "
            f"model={model.name!r}"
        )
    return specs


def tap_model(model, specs):
    """A model from `model.inputs` to the outputs of the given taps.

    A rank-2 tap `(batch, units)` is returned as `(batch, 1, units)`: one
    token, so readouts and fields treat every tap alike.

    Example:
    >>> model = keras_snp.build_cct("cct_2_3x2", num_classes=10)
    >>> specs = resolve_taps(model, ["sequence_pool"])
    >>> tap_model(model, specs).outputs[0].shape
    (None, 1, 128)
    """
    import keras

    if any(spec.site is not None for spec in specs):
        from keras_snp.sites.hooks import SiteModel

        return SiteModel(model, [site_of(model, spec) for spec in specs])
    outputs = []
    for spec in specs:
        output = model.get_layer(spec.name).output
        if len(output.shape) == 2:
            output = keras.layers.Reshape(
                (1, spec.nodes), name=f"{spec.name}_as_token"
            )(output)
        outputs.append(output)
    return keras.Model(model.inputs, outputs, name=f"{model.name}_taps")


def site_of(model, spec):
    """The `Site` a tap reads (a top-level layer's output when it has
    none)."""
    if spec.site is not None:
        return spec.site
    from keras_snp.sites.site import output_site

    return output_site(spec.name, (spec.name,), spec.shape, "other")
