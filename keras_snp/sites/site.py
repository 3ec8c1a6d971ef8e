"""A site: one tensor inside a model whose units are the nodes SNP reads.

A site is addressed by a layer path, the names from the model down to the
layer, so a layer nested inside another (keras-hub's `ViTEncoder` holds a
`keras.layers.MultiHeadAttention`) is reachable as well as a top-level
one. `point` says which tensor of that layer:

- `"output"`: the layer's output, `(batch, [tokens | height, width,]
  units)`; the units are the nodes.
- `"heads"`: for a `keras.layers.MultiHeadAttention`, the per-head
  attention output before the output projection, `(batch, tokens, heads,
  head_dim)`; node `h * head_dim + d` is unit `d` of head `h`.
- `"input"`: the layer's (first) input; the units of its last axis are
  the nodes (what a kernel layer reads, for pruning).

Nodes are always the units of the last axis (of the last two for
`"heads"`, flattened); every axis between batch and nodes is a token axis.
"""

import dataclasses

import numpy as np

POINTS = ("output", "heads", "input")
KINDS = ("mha", "ff", "res", "conv", "other")


@dataclasses.dataclass(frozen=True)
class Site:
    """Where one group of nodes lives, and how they are laid out.

    Attributes:
        name: unique name of the site (e.g. `encoder_1_mha`).
        path: layer names from the model down to the layer.
        point: `"output"` or `"heads"` (see the module docstring).
        kind: `"mha"`, `"ff"`, `"res"`, `"conv"` or `"other"`.
        block: the encoder or conv block the site belongs to (from 1),
            or None.
        shape: the site's tensor shape without the batch axis.
        head: `(nodes,)` int array, the head of each node (-1 where the
            site has no heads).
    """

    name: str
    path: tuple
    point: str
    kind: str
    block: int | None
    shape: tuple
    head: np.ndarray = dataclasses.field(repr=False, compare=False)

    def __post_init__(self):
        if self.point not in POINTS:
            raise ValueError(
                f"`point` must be one of {POINTS}. Received: "
                f"point={self.point!r}"
            )
        if self.kind not in KINDS:
            raise ValueError(
                f"`kind` must be one of {KINDS}. Received: kind={self.kind!r}"
            )

    @property
    def nodes(self):
        """Units per token: the last axis (the last two for `"heads"`)."""
        if self.point == "heads":
            return int(self.shape[-2] * self.shape[-1])
        return int(self.shape[-1])

    @property
    def tokens(self):
        """Token positions per node (1 for a `(batch, units)` site)."""
        axes = self.shape[:-2] if self.point == "heads" else self.shape[:-1]
        return int(np.prod(axes, dtype="int64"))

    @property
    def num_heads(self):
        return int(self.head.max()) + 1 if (self.head >= 0).any() else 0

    def flat(self, array):
        """`array` of this site `(batch, *shape)` as `(batch, tokens,
        nodes)`."""
        array = np.asarray(array)
        return array.reshape(len(array), self.tokens, self.nodes)

    def nodes_of_heads(self, heads):
        """The node indices of the given heads."""
        return np.flatnonzero(np.isin(self.head, np.asarray(heads)))


def output_site(name, path, shape, kind="other", block=None, head=None):
    """A `"output"` site; `head` defaults to -1 for every node."""
    shape = tuple(int(d) for d in shape)
    if head is None:
        head = np.full((shape[-1],), -1, dtype="int32")
    return Site(
        name, tuple(path), "output", kind, block, shape, np.asarray(head)
    )


def input_site(name, path, shape, kind="other", block=None):
    """An `"input"` site: the first input of the layer at `path`."""
    shape = tuple(int(d) for d in shape)
    head = np.full((shape[-1],), -1, dtype="int32")
    return Site(name, tuple(path), "input", kind, block, shape, head)


def heads_site(name, path, shape, block=None):
    """A `"heads"` site of shape `(tokens, heads, head_dim)`."""
    shape = tuple(int(d) for d in shape)
    heads, head_dim = shape[-2], shape[-1]
    head = np.repeat(np.arange(heads, dtype="int32"), head_dim)
    return Site(name, tuple(path), "heads", "mha", block, shape, head)
