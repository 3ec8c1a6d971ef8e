"""`analyze_heads`: the label-expert report of every MHA tap of an SNP.

METHOD.md section 3. The numbers come from `experts` (numpy, from the SNP
matrices alone) and, when a model and test data are given, from `ablation`
(head-only readout accuracy and the causal check).
"""

import dataclasses
import logging
import math

import numpy as np

from keras_snp.heads import ablation as ablation_lib
from keras_snp.heads import experts
from keras_snp.heads.schema import SCHEMA_VERSION
from keras_snp.settings import HeadsSettings
from keras_snp.sites.hooks import per_label
from keras_snp.snp import clusters

logger = logging.getLogger(__name__)


def _float(value):
    """A JSON-safe float: None for NaN / inf / None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _floats(values):
    return [_float(v) for v in np.asarray(values, dtype=np.float64).ravel()]


def _weighted(per_label, totals):
    per_label = np.asarray(per_label, dtype=np.float64)
    valid = ~np.isnan(per_label) & (totals > 0)
    if not valid.any():
        return float("nan")
    return float((per_label[valid] * totals[valid]).sum() / totals[valid].sum())


def _per_label_block(accuracy, values, L, totals, keys):
    """`{"accuracy", keys[0]: values, keys[1]: mean on the head's labels
    L, keys[2]: mean on the others}` of one head."""
    on, off = _split_mean(values, L)
    return {
        "accuracy": _float(_weighted(accuracy, totals)),
        keys[0]: _floats(values),
        keys[1]: _float(on),
        keys[2]: _float(off),
    }


def _split_mean(values, labels_mask):
    """Means of `values` on the labels in `labels_mask` and on the others."""
    values = np.asarray(values, dtype=np.float64)

    def mean(mask):
        picked = values[mask & ~np.isnan(values)]
        return float(picked.mean()) if picked.size else float("nan")

    return mean(labels_mask), mean(~labels_mask)


@dataclasses.dataclass
class HeadsReport:
    """Label-expert analysis of every MHA tap of one `SNPResult`.

    Attributes:
        encoders: one `experts.EncoderExperts` per MHA tap, in encoder order.
        label_names: K names.
        theta, null_samples, seed, p_threshold: the settings used.
        head_only: `{tap: (H, K)}` per-label accuracy of each head's
            readout alone (taps without readout weights are absent).
        ablation_base: `(K,)` per-label accuracy of the intact model, or
            None when the causal check did not run.
        ablation: `{tap: (H, K)}` per-label accuracy with head h silenced.
        label_totals: `(K,)` test examples per label, or None.
        contrast_ci: `{tap: (low, high)}`, the 95 % interval of the mean
            ablation contrast over bootstrap resamples of the test images.
        labels_chosen_on: `"validation"` when every tap's expert labels
            (and their null model) come from its validation fields
            (`TapResult.V_validation`), so that the test images only
            score them; `"test"` otherwise.
    """

    encoders: list
    label_names: list
    theta: float
    null_samples: int
    seed: int
    p_threshold: float
    head_only: dict = dataclasses.field(default_factory=dict)
    ablation_base: np.ndarray | None = None
    ablation: dict = dataclasses.field(default_factory=dict)
    label_totals: np.ndarray | None = None
    labels_chosen_on: str = "test"
    contrast_ci: dict = dataclasses.field(default_factory=dict)

    @property
    def num_classes(self):
        return len(self.label_names)

    def _head_dict(self, enc, h):
        L = enc.L[h]
        out = {
            "head": h,
            "nodes": list(enc.head_nodes[h]),
            "num_nodes": len(enc.head_nodes[h]),
            "labels": [int(c) for c in np.flatnonzero(L)],
            "label_names": [self.label_names[c] for c in np.flatnonzero(L)],
            "num_labels": int(L.sum()),
            "n_h": [int(v) for v in enc.counts[h]],
            "diag_strength": _floats(enc.diag_strength[h]),
            "expertise": _floats(enc.expertise[h]),
            "null_num_labels": (
                enc.head_null[h].to_dict() if enc.head_null else None
            ),
            "head_only": None,
            "ablation": None,
        }
        totals = self.label_totals
        if enc.tap in self.head_only:
            acc = self.head_only[enc.tap][h]
            out["head_only"] = _per_label_block(
                acc,
                acc,
                L,
                totals,
                ("per_label", "mean_on_labels", "mean_on_others"),
            )
        if enc.tap in self.ablation:
            acc = self.ablation[enc.tap][h]
            drop = self.ablation_base - acc
            block = _per_label_block(
                acc,
                drop,
                L,
                totals,
                (
                    "per_label_drop",
                    "mean_drop_on_labels",
                    "mean_drop_on_others",
                ),
            )
            on, off = _split_mean(drop, L)
            block["contrast"] = _float(on - off)
            out["ablation"] = block
        return out

    def _encoder_dict(self, enc):
        heads = [self._head_dict(enc, h) for h in range(enc.num_heads)]
        ablation = None
        if enc.tap in self.ablation:
            contrasts = [
                h["ablation"]["contrast"]
                for h in heads
                if h["ablation"]["contrast"] is not None
            ]
            ablation = {
                "base_accuracy": _float(
                    _weighted(self.ablation_base, self.label_totals)
                ),
                "base_per_label": _floats(self.ablation_base),
                "mean_contrast": (
                    _float(np.mean(contrasts)) if contrasts else None
                ),
                "mean_contrast_ci": [
                    _float(v)
                    for v in self.contrast_ci.get(enc.tap, (np.nan, np.nan))
                ],
            }
        no_expert = np.flatnonzero(enc.counts.sum(axis=0) == 0)
        return {
            "encoder": enc.encoder,
            "tap": enc.tap,
            "num_heads": enc.num_heads,
            "metrics": {k: _float(v) for k, v in enc.metrics.items()},
            "null": {
                k: {
                    **s.to_dict(),
                    **{
                        f: _float(getattr(s, f))
                        for f in (
                            "observed",
                            "null_mean",
                            "null_std",
                            "z",
                            "p",
                            "p_holm",
                        )
                    },
                }
                for k, s in enc.null.items()
            },
            "null_permuted": {
                k: {
                    **s.to_dict(),
                    **{
                        f: _float(getattr(s, f))
                        for f in ("observed", "null_mean", "null_std", "z")
                    },
                    "p": _float(s.p),
                    "p_holm": _float(s.p_holm),
                }
                for k, s in enc.null_permuted.items()
            },
            "symmetry_breaking": bool(enc.symmetry_breaking),
            "jaccard": [_floats(row) for row in enc.jaccard],
            "heads_per_label": [int(v) for v in enc.heads_per_label],
            "entropy": _floats(enc.entropy),
            "labels_without_expert": [int(c) for c in no_expert],
            "ablation": ablation,
            "heads": heads,
        }

    def to_dict(self):
        """The `heads.json` dictionary (see `keras_snp/heads/SCHEMA.md`)."""
        return {
            "schema_version": SCHEMA_VERSION,
            "theta": float(self.theta),
            "num_classes": self.num_classes,
            "label_names": list(self.label_names),
            "null_samples": int(self.null_samples),
            "seed": int(self.seed),
            "p_threshold": float(self.p_threshold),
            "labels_chosen_on": self.labels_chosen_on,
            "claim_metrics": list(experts.CLAIM_METRICS),
            "metric_directions": dict(experts.METRIC_DIRECTIONS),
            "head_only_available": bool(self.head_only),
            "ablation_available": self.ablation_base is not None,
            "encoders": [self._encoder_dict(e) for e in self.encoders],
        }


def _label_names(names, K):
    if names is None:
        return [str(c) for c in range(K)]
    names = [str(n) for n in names]
    if len(names) != K:
        raise ValueError(
            f"`label_names` must hold one name per label ({K}). "
            f"Received: {len(names)} names"
        )
    return names


def analyze_heads(
    snp_result,
    model=None,
    test_data=None,
    *,
    theta=None,
    null_samples=HeadsSettings.null_samples,
    seed=0,
    ablation=HeadsSettings.ablation,
    label_names=None,
    p_threshold=HeadsSettings.p_threshold,
):
    """Which labels each attention head is expert in (METHOD.md section 3).

    For each MHA tap (`kind == "mha"`) of `snp_result`: the head matrices
    (of its validation fields when the SNP measured them there, else of
    its test fields),
    expert labels `L_h`, `n_h(c)`, coverage, Jaccard, heads per label,
    expertise entropy, each against a null model that shuffles nodes among
    the encoder's heads (sizes kept). With `model` and `test_data`: the
    head-only readout accuracy per label (taps with readout weights `W`)
    and, if `ablation`, the per-label accuracy drop when each head is
    silenced inside the model (the model is not modified).

    Args:
        snp_result: an `SNPResult` with at least one MHA tap.
        model: the trained functional model, or None.
        test_data: iterable of `(images, labels)` test batches, or None.
        theta: threshold (default: the SNP result's own).
        null_samples: shuffles of the null model (0 skips it).
        seed: seed of the shuffles.
        ablation: run the causal check when a model and data are given.
        label_names: K names (default: the SNP result's, else indices).
        p_threshold: symmetry breaking is claimed where the metrics of
            `experts.CLAIM_METRICS` all have p below it, each p
            Holm-adjusted over the model's encoders.

    Returns:
        A `HeadsReport`.

    Example:
    ```python
    report = analyze_heads(snp, model, splits.test, null_samples=100)
    write_heads_report(report, "saved_models/run/heads")
    ```
    """
    taps = [t for t in snp_result.taps.values() if t.kind == "mha"]
    if not taps:
        raise ValueError(
            "`snp_result` has no MHA tap (kind 'mha', e.g. encoder_1_mha): "
            "run the SNP with the MHA taps included. Received taps: "
            f"{list(snp_result.taps)}"
        )
    if not 0 < p_threshold < 1:
        raise ValueError(
            f"`p_threshold` must be in (0, 1). "
            f"Received: p_threshold={p_threshold}"
        )
    taps.sort(key=lambda t: (t.encoder is None, t.encoder or 0, t.name))
    theta = clusters.check_theta(snp_result.theta if theta is None else theta)
    K = snp_result.num_classes
    names = _label_names(
        label_names if label_names is not None else snp_result.label_names, K
    )
    on_validation = all(t.V_validation is not None for t in taps)
    encoders = [
        experts.analyze_encoder(
            dataclasses.replace(t, V=t.V_validation) if on_validation else t,
            theta,
            null_samples,
            seed + i,
            p_threshold,
        )
        for i, t in enumerate(taps)
    ]
    experts.correct_across_encoders(encoders, p_threshold)
    report = HeadsReport(
        encoders,
        names,
        theta,
        null_samples,
        seed,
        p_threshold,
        labels_chosen_on="validation" if on_validation else "test",
    )
    if model is None or test_data is None:
        logger.info(
            "no model or test data: head-only accuracy and ablation skipped"
        )
        return report
    test_data = ablation_lib.reusable(test_data)
    with_w = [t for t in taps if t.W is not None]
    if with_w:
        report.head_only, report.label_totals = (
            ablation_lib.head_only_accuracies(model, test_data, with_w, K)
        )
    else:
        logger.info("no readout weights W: head-only accuracy skipped")
    if ablation:
        tap_heads = {e.tap: e.head_nodes for e in encoders}
        labels, base_hits, hits = ablation_lib.ablation_hits(
            model, test_data, tap_heads
        )
        base = per_label(base_hits, labels, K)
        dropped = {
            tap: per_label(rows, labels, K) for tap, rows in hits.items()
        }
        totals = np.bincount(labels, minlength=K)
        report.ablation_base, report.ablation = base, dropped
        report.contrast_ci = {
            e.tap: ablation_lib.contrast_interval(
                labels, base_hits, hits[e.tap], e.L, K, seed=seed + i
            )
            for i, e in enumerate(encoders)
        }
        report.label_totals = totals
    return report
