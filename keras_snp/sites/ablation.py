"""A model whose sites carry node masks that can be changed between calls
without tracing again: the engine of every ablation sweep (each head, each
cluster) in the heads' causal check."""

import keras
import numpy as np

from keras_snp.sites.hooks import hooked
from keras_snp.sites.hooks import node_mask


class AblationModel(keras.Model):
    """`model` with a node mask at every site, all ones until `silence`.

    The masks are non-trainable weights of this wrapper, so a compiled
    `predict` (on TensorFlow, JAX or torch) reads their current values: one
    trace serves every ablation. `model` is shared, not copied, and is
    unchanged outside this wrapper's calls.

    Args:
        model: a built Keras model.
        sites: the `Site`s whose nodes may be silenced.

    Example:
    ```python
    ablation = AblationModel(model, sites)
    ablation.silence({sites[0]: sites[0].nodes_of_heads([1])})
    logits = ablation.predict(images)
    ablation.silence({})  # intact again
    ```
    """

    def __init__(self, model, sites, **kwargs):
        super().__init__(name=kwargs.pop("name", f"{model.name}_ablation"))
        self.ablated = model
        self.sites = list(sites)
        self.masks = {
            site.name: self.add_weight(
                shape=(site.nodes,),
                initializer="ones",
                trainable=False,
                name=f"{site.name}_mask",
            )
            for site in self.sites
        }

    def call(self, inputs, training=False):
        with hooked(self.ablated, self.sites, masks=self.masks):
            return self.ablated(inputs, training=training)

    def silence(self, silenced):
        """Silences `{site or site name: node indices}`; every other node
        of every site is back to one."""
        by_name = {site.name: site for site in self.sites}
        wanted = {getattr(k, "name", k): v for k, v in silenced.items()}
        unknown = sorted(set(wanted) - set(by_name))
        if unknown:
            raise ValueError(
                f"Sites {unknown} are not sites of this ablation model; it "
                f"has: {sorted(by_name)}."
            )
        for name, site in by_name.items():
            nodes = wanted.get(name, np.zeros(0, "int64"))
            self.masks[name].assign(node_mask(site, nodes))
