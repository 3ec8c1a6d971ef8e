"""Top-1 correctness of a model over batches, per example."""

import numpy as np
from keras import ops

from keras_snp.snp.readout import int_labels


def correctness(model, data):
    """Per-example top-1 correctness `(n,)` bool, in the data's order.

    Labels are one-hot `(B, K)` or integers `(B,)`; inference mode.

    Example:
    ```python
    hits = correctness(model, splits.test)
    hits.mean()  # top-1 accuracy
    ```
    """
    hits = []
    for images, labels in data:
        logits = ops.convert_to_numpy(model.predict_on_batch(images))
        hits.append(
            logits.argmax(-1) == int_labels(ops.convert_to_numpy(labels))
        )
    if not hits:
        raise ValueError("`data` yielded no batch: cannot measure accuracy.")
    return np.concatenate(hits)


def accuracy(model, data):
    """Top-1 accuracy of `model` over batches `(images, labels)`."""
    return float(correctness(model, data).mean())
