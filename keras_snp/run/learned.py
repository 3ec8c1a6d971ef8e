"""Did training learn? SNP, head reports and ANDC read what a model has
learned, so a model that learned nothing is stopped before them.

A run has not learned when its final validation accuracy is within the
binomial noise of chance (1/K, `CHANCE_Z` standard errors on the
validation images), or when its final training loss is above its first
epoch's. `--analyse-anyway` runs the analysis regardless, and every report
then says so at the top.
"""

import math

#: Standard errors above 1/K an accuracy must reach to count as learned
#: (one-sided, about 2.3 % of chance runs would pass).
CHANCE_Z = 2.0


def chance_ceiling(num_classes, images, z=CHANCE_Z):
    """The highest accuracy that is still chance: 1/K plus `z` binomial
    standard errors on `images` predictions.

    Example:
    >>> round(chance_ceiling(4, 100), 3)
    0.337
    """
    p = 1.0 / num_classes
    return p + z * math.sqrt(p * (1 - p) / max(images, 1))


def not_learned_reason(history, num_classes, validation_images):
    """Why the run in `history` (run.json's per-epoch metrics) did not
    learn, in words, or None when it did (or nothing can be judged)."""
    if not history:
        return None
    first, last = history[0], history[-1]
    accuracy = last.get("val_accuracy")
    if accuracy is not None and validation_images:
        ceiling = chance_ceiling(num_classes, validation_images)
        if accuracy <= ceiling:
            return (
                f"its validation accuracy {accuracy:.4f} after epoch "
                f"{last['epoch']} is within chance (1/{num_classes} = "
                f"{1 / num_classes:.4f}, noise ceiling {ceiling:.4f} on "
                f"{validation_images} images)"
            )
    loss, first_loss = last.get("loss"), first.get("loss")
    if loss is not None and first_loss is not None and loss > first_loss:
        return (
            f"its training loss ended at {loss:.4g} (epoch "
            f"{last['epoch']}), above the {first_loss:.4g} of epoch "
            f"{first['epoch']}: training diverged"
        )
    return None


def good_checkpoint(history, epoch):
    """Whether the checkpoint of `epoch` may be offered as "last good":
    its loss is finite and below the first epoch's."""
    if not history or not epoch:
        return False
    losses = {h["epoch"]: h.get("loss") for h in history}
    loss, first = losses.get(epoch), history[0].get("loss")
    return (
        loss is not None
        and first is not None
        and math.isfinite(loss)
        and loss < first
    )
