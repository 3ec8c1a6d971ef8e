"""ANDC pruning (METHOD.md section 4): masks from SNP, controls, shrinking,
the recipe fine-tune, sweeps, and the structured variant (ours).

The names below are imported on first use (PEP 562), so `scopes` (plain
Python) answers the command line without starting Keras.
"""

from keras_snp.utils import lazy_exports

_EXPORTS = {
    "SCOPES": "scopes",
    "parse_scope": "scopes",
    "scope_name": "scopes",
    "connection_masks": "andc",
    "dilution_by_scope": "andc",
    "magnitude_masks": "andc",
    "prune": "andc",
    "pruning_taps": "andc",
    "random_masks": "andc",
    "strip": "andc",
    "FineTune": "fine_tuning",
    "fine_tune": "fine_tuning",
    "count_flops": "shrinking",
    "shrink": "shrinking",
    "shrink_any": "any_shrink",
    "PruneSettings": "stage",
    "prune_and_evaluate": "stage",
    "Evaluation": "result",
    "PruningResult": "result",
    "structured_masks": "structured",
    "sensitivity": "sweep",
    "ANDCPrune": "wrapper",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
