"""Claim 3 across fine-tune lengths and seeds (`pruned/fine_tunes.json`,
`keras_snp.run.fine_tune_study`), as the report reads it.

Per length, every row's accuracy is the mean over its fine-tune seeds
with the seeds' min and max (the seed band). Each pruned row is compared
with `unpruned` at the same length by a paired bootstrap over the test
images of the per-image hit rate averaged over the seeds (both rows must
have the same seeds). The interval is Bonferroni-adjusted over the
lengths of the study (level `1 - 0.05 / lengths`, per row), and read
against the claim-3 margin as the stage's verdict is.
"""

import os

from keras_snp.pruning import fine_tune_study as study_lib
from keras_snp.reproduce import stats
from keras_snp.reproduce.markdown import fmt
from keras_snp.utils import load_npz
from keras_snp.utils import read_json

FAMILY_LEVEL = 0.95


def fine_tune_study(run_dir, resamples, seed, margin, verdict_fn):
    """The study's table, or None when the run has none.

    Args:
        run_dir: a run folder (or its evidence bundle).
        resamples: bootstrap resamples.
        seed: bootstrap seed.
        margin: the claim-3 non-inferiority margin.
        verdict_fn: `verdict_fn(low, high, margin)` (the stage's rule).

    Returns:
        `{"rows": [...], "level", "epochs", "planned_epochs",
        "fine_tune", "dilution", "classifier_mask_agreement", "margin"}`;
        each row entry has `row`, `epochs`, `seeds`, `mean`, `min`,
        `max` and, for pruned rows, `difference` (`difference`, `low`,
        `high`) and `verdict`.
    """
    path = os.path.join(run_dir, "pruned", study_lib.STUDY_JSON)
    if not os.path.isfile(path):
        return None
    state = read_json(path)
    hits_path = os.path.join(run_dir, "pruned", state["predictions"])
    hits = load_npz(hits_path) if os.path.isfile(hits_path) else {}
    table = study_lib.summarise(hits)
    lengths = sorted({study_lib.parse_key(k)[1] for k in hits})
    level = 1 - (1 - FAMILY_LEVEL) / max(1, len(lengths))
    rows = []
    for length in lengths:
        reference, reference_seeds = study_lib.seed_mean_hits(
            hits, "unpruned", length
        )
        for row in study_lib.ROWS:
            mean_hits, seeds = study_lib.seed_mean_hits(hits, row, length)
            if mean_hits is None:
                continue
            band = table[row][length]
            entry = {
                "row": row,
                "epochs": length,
                "seeds": seeds,
                **{k: band[k] for k in ("mean", "min", "max")},
            }
            if row != "unpruned" and seeds == reference_seeds:
                difference = stats.bootstrap_accuracy_difference(
                    mean_hits, reference, resamples, level=level, seed=seed
                )
                entry["difference"] = difference
                entry["verdict"] = verdict_fn(
                    difference["low"], difference["high"], margin
                )
            rows.append(entry)
    return {
        "rows": rows,
        "level": level,
        "epochs": lengths,
        "planned_epochs": state.get("epochs"),
        "fine_tune": state.get("fine_tune"),
        "dilution": state.get("rows", {}),
        "classifier_mask_agreement": state.get("classifier_mask_agreement"),
        "margin": margin,
    }


STUDY_ROWS = {
    "unpruned": "the trained model, fine-tuned the same way",
    "andc": "ANDC, the stage's masks",
    "magnitude": "largest |w| per layer at ANDC's sparsity",
    "andc_lab_classifier": "ANDC with the lab's classifier mask (the "
    "classifier pruned by its own clusters)",
}


def study_lines(s):
    """The report's lines of `fine_tune_study`'s result (None: says it
    was not measured)."""
    if not s:
        return [
            "Fine-tune lengths and seeds: not measured (no "
            "`pruned/fine_tunes.json`; `keras-snp prune RUN_DIR "
            "--fine-tune-study` runs it)."
        ]
    dilution = s.get("dilution") or {}
    tune = s.get("fine_tune") or {}
    lines = [
        "Claim 3 at each fine-tune length (`pruned/fine_tunes.json`; "
        f"the stage's fine-tune, recipe `{tune.get('recipe')}`, peak lr "
        f"{tune.get('learning_rate')}, weight decay "
        f"{tune.get('weight_decay')}, its warm-up and cosine fitted to "
        "each length; every row and seed alike): accuracy is the mean "
        "over the fine-tune seeds, [min, max] "
        "the seed band; difference against `unpruned` at the same length, "
        f"{s['level'] * 100:.1f}% CI (Bonferroni over the "
        f"{len(s['epochs'])} lengths) of a paired bootstrap over the test "
        "images of the per-image hit rate averaged over the seeds; margin "
        f"{s['margin']}.",
        "",
        "| row | epochs | seeds | accuracy [seed band] | dilution | "
        "difference [CI] | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in s["rows"]:
        d = r.get("difference")
        cell = (
            f"{fmt(d['difference'])} [{fmt(d['low'])}, {fmt(d['high'])}]"
            if d
            else "(reference)"
            if r["row"] == "unpruned"
            else "n/a (not the seeds of `unpruned`)"
        )
        lines.append(
            f"| {r['row']} | {r['epochs']} | {len(r['seeds'])} | "
            f"{fmt(r['mean'])} [{fmt(r['min'])}, {fmt(r['max'])}] | "
            f"{fmt((dilution.get(r['row']) or {}).get('dilution', 0.0), 3)} | "
            f"{cell} | {r.get('verdict', '')} |"
        )
    planned = s.get("planned_epochs") or []
    missing = [e for e in planned if e not in s["epochs"]]
    lines.append("")
    lines.append(
        "Rows: " + "; ".join(f"`{k}`: {v}" for k, v in STUDY_ROWS.items()) + "."
    )
    agreement = s.get("classifier_mask_agreement")
    if agreement is not None:
        ours = (dilution.get("andc") or {}).get("classifier_dilution")
        lab = (dilution.get("andc_lab_classifier") or {}).get(
            "classifier_dilution"
        )
        lines.append(
            f"Classifier masks: ours (separate readout) cuts {fmt(ours, 3)}, "
            f"the lab's (own kernel) {fmt(lab, 3)}; they agree on "
            f"{fmt(agreement, 3)} of the classifier's connections."
        )
    if missing:
        lines.append(
            f"Lengths planned but not run: {missing} (the study continues "
            "with `--fine-tune-study` again)."
        )
    return lines
