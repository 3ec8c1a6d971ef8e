"""The `cct` adapter: keras_snp's CCT, read by its layer names.

`build_cct` names every layer, and this module is the one place outside
`models/` that knows those names. Everything that reads a CCT by name asks
the adapter: its sites (`CCTAdapter.sites`), the SNP taps
(`keras_snp.snp.taps`), and the ANDC pruning of a CCT (`keras_snp.pruning`:
the layers each pruning scope masks with the taps each reads and writes,
`CCTAdapter.connection_sides`; the pruning scope of a layer name,
`CCTAdapter.scope_of`; the layers of each encoder that `shrink` cuts,
`CCTAdapter.encoders`).

Encoder `l` (from 1) of a CCT with `L` encoders is, in order:
`encoder_{l}_pre_norm`, `encoder_{l}_qkv` (queries, keys and values in one
Dense), `encoder_{l}_mha` (the per-head attention output, before its
projection), `encoder_{l}_attn_proj`, `encoder_{l}_attn_add` (the
residual addition), `encoder_{l}_norm`, `encoder_{l}_ff_hidden`,
`encoder_{l}_ff_out` and `encoder_{l}_out` (the block's output). After the
last encoder, `sequence_pool` pools the tokens and the Dense `classifier`
gives the logits.

The prunable layers by pruning scope, each with the tensors it reads and
writes (each measured as an SNP tap; `sequence_pool` is one token):

- `readout`: `classifier` reads `sequence_pool` (outputs: the labels);
- `ff`: `encoder_{l}_ff_hidden` reads `encoder_{l}_norm` and writes
  `encoder_{l}_ff_hidden`; `encoder_{l}_ff_out` reads
  `encoder_{l}_ff_hidden` and writes into `encoder_{l}_out`;
- `attn_proj`: `encoder_{l}_attn_proj` reads `encoder_{l}_mha` and writes
  into `encoder_{l}_attn_add`.

`encoder_{l}_qkv` is never masked (queries and keys have no SNP sets).
"""

import re
from typing import NamedTuple

import numpy as np

from keras_snp.sites.site import output_site

CCT_SUFFIX = {"mha": "mha", "ff": "ff_hidden", "res": "out"}
CCT_NAME = re.compile(r"^encoder_(\d+)_(mha|ff_hidden|out)$")
CCT_KIND = {suffix: kind for kind, suffix in CCT_SUFFIX.items()}
# The head: the pooled tokens and the Dense that reads them.
CCT_POOL = "sequence_pool"
CCT_CLASSIFIER = "classifier"
# The pruning scopes of the CCT's layers (`keras_snp.pruning.scopes`'s
# `LAYER_SCOPES`, which a test holds equal).
CCT_SCOPES = ("readout", "ff", "attn_proj")


class CCTEncoder(NamedTuple):
    """The layer names of one encoder block of a CCT.

    Attributes:
        index: the block's number, from 1.
        name: the block's prefix without the underscore, `encoder_{index}`.
        qkv, mha, attn_proj, attn_add, norm, ff_hidden, ff_out, out: the
            names of its layers (see the module docstring).

    Example:
    >>> CCTEncoder.of(2).ff_hidden
    'encoder_2_ff_hidden'
    """

    index: int
    name: str
    qkv: str
    mha: str
    attn_proj: str
    attn_add: str
    norm: str
    ff_hidden: str
    ff_out: str
    out: str

    @classmethod
    def of(cls, index):
        """The names of encoder `index` (from 1)."""
        name = f"encoder_{index}"
        layers = {f: f"{name}_{f}" for f in cls._fields[2:]}
        return cls(index=index, name=name, **layers)


class CCTAdapter:
    """keras_snp's CCT (`keras_snp.build_cct`)."""

    name = "cct"

    def matches(self, model):
        names = {layer.name for layer in model.layers}
        return "encoder_1_out" in names and "encoder_1_mha" in names

    def encoders(self, model):
        """The `CCTEncoder` of each encoder block of `model`, in order.

        Example:
        >>> model = keras_snp.build_cct("cct_2_3x2", num_classes=10)
        >>> [e.out for e in CCT.encoders(model)]
        ['encoder_1_out', 'encoder_2_out']
        """
        names = {layer.name for layer in model.layers}
        found = []
        while CCTEncoder.of(len(found) + 1).out in names:
            found.append(CCTEncoder.of(len(found) + 1))
        return found

    def sites(self, model, kinds=("mha", "ff", "res")):
        sites = []
        for encoder in self.encoders(model):
            for kind in kinds:
                name = f"{encoder.name}_{CCT_SUFFIX[kind]}"
                layer = model.get_layer(name)
                head = getattr(layer, "head_of_node", None)
                sites.append(
                    output_site(
                        name,
                        (name,),
                        layer.output.shape[1:],
                        kind=kind,
                        block=encoder.index,
                        head=None if head is None else np.asarray(head),
                    )
                )
        return sites

    def connection_sides(self, model, scopes=CCT_SCOPES):
        """`{layer: (input tap, output tap or None)}` for the layers of
        `scopes`, the classifier first, then encoder by encoder.

        Names only: the tensors each prunable layer reads and writes, as
        in the module docstring. The output tap is None for the
        classifier (its outputs are the labels).

        Args:
            model: a CCT from `keras_snp.build_cct`.
            scopes: any of `"readout"`, `"ff"`, `"attn_proj"`.

        Example:
        >>> model = keras_snp.build_cct("cct_2_3x2", num_classes=10)
        >>> CCT.connection_sides(model, ("ff",))["encoder_1_ff_hidden"]
        ('encoder_1_norm', 'encoder_1_ff_hidden')
        >>> CCT.connection_sides(model, ("readout",))
        {'classifier': ('sequence_pool', None)}
        """
        sides = {}
        if "readout" in scopes:
            sides[CCT_CLASSIFIER] = (CCT_POOL, None)
        for e in self.encoders(model):
            if "attn_proj" in scopes:
                sides[e.attn_proj] = (e.mha, e.attn_add)
            if "ff" in scopes:
                sides[e.ff_hidden] = (e.norm, e.ff_hidden)
                sides[e.ff_out] = (e.ff_hidden, e.out)
        return sides

    def scope_of(self, layer_name):
        """The pruning scope of a prunable layer's name: `readout` for the
        classifier, `attn_proj` for an attention projection, else `ff`.

        Example:
        >>> CCT.scope_of("classifier"), CCT.scope_of("encoder_2_attn_proj")
        ('readout', 'attn_proj')
        """
        if layer_name == CCT_CLASSIFIER:
            return "readout"
        if layer_name.endswith("_attn_proj"):
            return "attn_proj"
        return "ff"


# The adapter the registry (`adapters.ADAPTERS`) holds, and the one the
# snp/ and pruning/ packages ask.
CCT = CCTAdapter()
