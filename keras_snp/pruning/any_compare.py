"""ANDC against its controls on any model: each method at the same
per-layer sparsity and the same fine-tune, and the unpruned model
fine-tuned alike (`unpruned_fine_tuned`), scored on the test split."""

import dataclasses

from keras_snp.pruning.any_model import METHODS
from keras_snp.pruning.any_model import connections
from keras_snp.pruning.any_model import prune
from keras_snp.pruning.scoring import accuracy


@dataclasses.dataclass
class Comparison:
    """Test accuracies of the pruned models and their controls.

    Attributes:
        dilution: share of connections removed (the same for every method).
        unpruned: the model as given.
        unpruned_fine_tuned: the unpruned model after the same fine-tune
            (None without one).
        methods: `{method: test accuracy}` after the fine-tune.
        fine_tune_epochs: the fine-tune every model had.
    """

    dilution: float
    unpruned: float
    unpruned_fine_tuned: float | None
    methods: dict
    fine_tune_epochs: int

    def to_dict(self):
        return dataclasses.asdict(self)


def compare(
    model,
    snp_result,
    train_data,
    test_data,
    *,
    theta=None,
    fine_tune_epochs=0,
    methods=METHODS,
    seed=0,
):
    """Prunes `model` by each method and scores every result.

    Returns:
        `(Comparison, {method: Pruned})`.
    """
    conns = connections(model)
    pruned = {
        method: prune(
            model,
            snp_result,
            train_data,
            theta=theta,
            method=method,
            fine_tune_epochs=fine_tune_epochs,
            seed=seed,
            conns=conns,
        )
        for method in methods
    }
    tuned = None
    if fine_tune_epochs:
        unmasked = prune(  # no connection masked: the fine-tune only
            model,
            snp_result,
            train_data,
            fine_tune_epochs=fine_tune_epochs,
            conns=[],
        )
        tuned = accuracy(unmasked.model, test_data)
    first = next(iter(pruned.values()))
    result = Comparison(
        dilution=first.dilution,
        unpruned=accuracy(model, test_data),
        unpruned_fine_tuned=tuned,
        methods={m: accuracy(p.model, test_data) for m, p in pruned.items()},
        fine_tune_epochs=fine_tune_epochs,
    )
    return result, pruned
