"""What a physical shrink changes: new weight values, matched back onto a
rebuilt model (`any_shrink.py`, `shrink_vit.py`)."""

import numpy as np
from keras import ops


class Plan:
    """New weight values (by variable) and new configs (by layer name)."""

    def __init__(self):
        self.values, self.configs, self.report = {}, {}, {}

    def get(self, variable):
        if id(variable) in self.values:
            return self.values[id(variable)][1]
        return ops.convert_to_numpy(variable)

    def set(self, variable, value):
        self.values[id(variable)] = (variable, np.asarray(value))


def rebuilt(model, plan, build):
    """`build()`'s model with the plan's weights (variables matched by
    their order, which a rebuild from config keeps)."""
    small = build()
    old, new = model.weights, small.weights
    if len(old) != len(new):
        raise ValueError(
            f"The rebuilt `{model.name}` has {len(new)} weights, the model "
            f"{len(old)}: its layers are not rebuilt the same way."
        )
    for before, after in zip(old, new):
        value = plan.get(before)
        if tuple(after.shape) != value.shape:
            raise ValueError(
                f"The rebuilt `{after.path}` has shape {tuple(after.shape)}, "
                f"the plan {value.shape}."
            )
        after.assign(value)
    return small
