"""What one pruning stage returns: `Evaluation` and `PruningResult`.

`PruningResult.to_dict()` is the dictionary of `pruning.json` (with the
per-layer table that the run folder moves to `pruning_detail.json`),
before the run adds the file sizes and notes.
"""

import dataclasses

import numpy as np

from keras_snp.pruning.andc import dilution_by_scope
from keras_snp.pruning.andc import scope_name

__all__ = ["ROWS", "STRUCTURED_ROW", "Evaluation", "PruningResult"]

ROWS = {
    "unpruned": "the trained model",
    "andc_masked": "ANDC masks, before fine-tuning",
    "unpruned_fine_tuned": "the unpruned model after the same fine-tuning",
    "andc_fine_tuned": "ANDC masks, after fine-tuning",
    "random_fine_tuned": "random masks, same kept connections per input "
    "and per output node, after the same fine-tuning",
    "magnitude_fine_tuned": "largest |w| per layer at the ANDC sparsity, "
    "after the same fine-tuning",
}
STRUCTURED_ROW = (
    "structured_fine_tuned",
    "ours, beyond the paper: whole FF units and heads cut, "
    "weakest by SNP, after the same fine-tuning",
)


def _dilution(masks):
    total = sum(int(m.size) for m in masks.values())
    return 1.0 - sum(int(np.count_nonzero(m)) for m in masks.values()) / total


@dataclasses.dataclass
class Evaluation:
    """Every row of one stage, scored on the test split.

    Attributes:
        hits: `{row: (n,) bool}`, per-image top-1 correctness.
        records: `{method: fine-tune record}` (`unpruned`, `andc`, ...).
        masks: `{method: {layer: bool mask}}`; `andc` is the ANDC masks.
        models: the masked, fine-tuned `andc` (and `structured`) models.

    Example:
    >>> e = Evaluation({"unpruned": np.array([True, False])}, {}, {}, {})
    >>> e.accuracy
    {'unpruned': 0.5}
    """

    hits: dict
    records: dict
    masks: dict
    models: dict

    @property
    def accuracy(self):
        """`{row: top-1 accuracy}`."""
        return {name: float(h.mean()) for name, h in self.hits.items()}


@dataclasses.dataclass
class PruningResult:
    """One pruning stage's outcome (`prune_and_evaluate`).

    Attributes:
        settings: the stage's `PruneSettings`.
        evaluation: the `Evaluation` of every row.
        layers: per masked or shrunk layer: kept connections (per input
            node), the controls' counts and overlap, parameters before
            and after.
        params: `before`, `nonzero_after_masking`, `after`.
        flops: `before`, `masked_sparse`, `after` (`count_flops`).
        shrink: `removed` (per layer) and `max_abs_difference` of the
            shrunken model against the masked one.
        pruned: the shrunken ANDC model.
        kept_nodes: `{tap: [index]}`: which nodes of each shrunk layer
            stay (`shrinking.kept_nodes`), so node `i` of the pruned model
            is node `kept_nodes[tap][i]` of the unpruned one.
        structured: the structured variant's `fraction`, `removed`,
            `params_after`, `flops_after`, `max_abs_difference`; or None.
        structured_pruned: its shrunken model, or None.

    Example:
    ```python
    result = prune_and_evaluate(model, masks, train, test, settings)
    write_json("pruning.json", result.to_dict())
    ```
    """

    settings: object
    evaluation: Evaluation
    layers: dict
    params: dict
    flops: dict
    shrink: dict
    pruned: object
    kept_nodes: dict = dataclasses.field(default_factory=dict)
    structured: dict | None = None
    structured_pruned: object = None

    @property
    def accuracy(self):
        """`{row: top-1 accuracy}`."""
        return self.evaluation.accuracy

    @property
    def hits(self):
        """`{row: (n,) bool}`, the per-image correctness of every row."""
        return self.evaluation.hits

    def _sparsity(self, name, by_scope):
        if name.startswith("unpruned"):
            return 0.0
        if name.startswith("structured"):
            return _dilution(self.evaluation.masks["structured"])
        return by_scope["all"]

    def to_dict(self):
        """The `pruning.json` dictionary, `layers` included, in the order
        the run folder writes it."""
        settings, evaluation = self.settings, self.evaluation
        masks = evaluation.masks["andc"]
        results = self.accuracy
        rows = dict(ROWS)
        if STRUCTURED_ROW[0] in results:
            rows[STRUCTURED_ROW[0]] = STRUCTURED_ROW[1]
        by_scope = dilution_by_scope(masks)
        records = evaluation.records
        first = next(iter(records.values()))
        summary = {
            "scope": scope_name(settings.scope),
            "theta": settings.theta,
            "masks_from": "validation",
            "scored_on": "test",
            "fine_tune": {
                **dataclasses.asdict(settings.fine_tune),
                "record": first,
                "identical_for_all_rows": all(
                    r == first for r in records.values()
                ),
                "rows": sorted(f"{n}_fine_tuned" for n in records),
            },
            "random_control": "curveball trades: per input and per output "
            "node the ANDC counts",
            "accuracy": results,
            "accuracy_table": [
                {
                    "name": name,
                    "description": rows[name],
                    "accuracy": results[name],
                    "sparsity": self._sparsity(name, by_scope),
                }
                for name in rows
            ],
            "kept_connections": sum(
                int(np.count_nonzero(m)) for m in masks.values()
            ),
            "prunable_connections": sum(int(m.size) for m in masks.values()),
            "dilution": by_scope["all"],
            "dilution_by_scope": by_scope,
            "layers": self.layers,
            "params": self.params,
            "flops": self.flops,
            "shrink": self.shrink,
            "kept_nodes": self.kept_nodes,
        }
        if self.structured is not None:
            summary["structured"] = self.structured
        return summary
