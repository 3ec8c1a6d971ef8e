"""The numbers of the reproduction report, computed from a run folder.

`analyze_run(run_dir)` reads `run.json`, `snp/`, `heads/heads.json` and
`pruned/` and returns one plain dictionary (also saved as
`report.json`): per claim the table, the statistic, its confidence
interval and the verdict. `report.py` only formats it.
"""

import datetime
import os
import re

import numpy as np

from keras_snp.pruning.scopes import point_key
from keras_snp.reproduce import evidence
from keras_snp.reproduce import fine_tune_analysis
from keras_snp.reproduce import stats
from keras_snp.utils import UsageError
from keras_snp.utils import load_npz
from keras_snp.utils import read_json

TAP_STATS = (
    "mean_diag",
    "mean_clusters",
    "mean_cluster_size",
    "mean_noise",
    "snr",
    "empty_fraction",
)
# ANDC "does not affect accuracy": non-inferiority margin (choice).
PRUNING_MARGIN = 0.01
# The first pair is claim 3's (METHOD.md section 4): ANDC against the
# unpruned model given the identical fine-tune.
DIFFERENCES = (
    ("andc_fine_tuned", "unpruned_fine_tuned"),
    ("andc_masked", "unpruned"),
    ("unpruned_fine_tuned", "unpruned"),
    ("andc_fine_tuned", "random_fine_tuned"),
    ("andc_fine_tuned", "magnitude_fine_tuned"),
    ("structured_fine_tuned", "unpruned_fine_tuned"),
)
# FineTune fields that must agree for two fine-tuned rows to compare.
TUNE_FIELDS = (
    "epochs",
    "recipe",
    "learning_rate",
    "weight_decay",
    "warmup_epochs",
    "steps_per_epoch",
    "seed",
)
INCONCLUSIVE = "inconclusive at this budget"


def tap_depth(name, tap):
    """Depth of a tap: its encoder (CCT) or its block index (CNN)."""
    if tap.get("encoder") is not None:
        return int(tap["encoder"])
    match = re.search(r"(\d+)$", name)
    return int(match.group(1)) if match else None


def tap_kind(tap):
    return "block" if tap.get("kind") in (None, "other") else tap["kind"]


def _stage_seconds(state):
    """Seconds per stage: what the stage measured (`wall_seconds`), else
    (runs recorded before) the time since the previous `finished_at`."""
    start = state.get("created_at")
    out = {}
    for name, stage in state.get("stages", {}).items():
        end = stage.get("finished_at")
        if stage.get("wall_seconds") is not None:
            out[name] = float(stage["wall_seconds"])
        elif start and end:
            out[name] = (
                datetime.datetime.fromisoformat(end)
                - datetime.datetime.fromisoformat(start)
            ).total_seconds()
        start = end or start
    return out


def claim_accuracy(summary, n_test, resamples, seed, readout_seeds=None):
    """Claim 1: readout accuracy rises with depth. `readout_seeds`: the
    SNP stage's `readout_seeds.json` (each tap's accuracy per readout
    seed), whose spread then enters the intervals."""
    per_seed = (readout_seeds or {}).get("taps") or {}
    rows, by_kind = [], {}
    for name, tap in summary["taps"].items():
        depth = tap_depth(name, tap)
        rows.append(
            {
                "tap": name,
                "kind": tap_kind(tap),
                "depth": depth,
                "nodes": tap["nodes"],
                "tokens": tap["tokens"],
                "readout_accuracy": tap["readout_accuracy"],
            }
        )
        by_kind.setdefault(tap_kind(tap), []).append(rows[-1])

    def seeds_of(chosen):
        if not per_seed or not all(r["tap"] in per_seed for r in chosen):
            return None
        return [per_seed[r["tap"]] for r in chosen]

    for row in rows:
        if row["tap"] in per_seed:
            row["readout_accuracy_by_seed"] = per_seed[row["tap"]]
    correlations = {}
    for kind, kind_rows in by_kind.items():
        correlations[kind] = stats.depth_correlation_accuracy(
            [r["depth"] for r in kind_rows],
            [r["readout_accuracy"] for r in kind_rows],
            n_test,
            resamples=resamples,
            seed=seed,
            seed_accuracies=seeds_of(kind_rows),
        )
    pooled = stats.depth_correlation_accuracy(
        [r["depth"] for r in rows],
        [r["readout_accuracy"] for r in rows],
        n_test,
        resamples=resamples,
        seed=seed,
        groups=[r["kind"] for r in rows],
        seed_accuracies=seeds_of(rows),
    )
    verdict = stats.sign_verdict(pooled["low"], pooled["high"], "positive")
    return {
        "rows": rows,
        "by_kind": correlations,
        "pooled": pooled,
        "n_test": n_test,
        "readout_seeds": len(next(iter(per_seed.values()), [None])),
        "verdict": verdict,
    }


def claim_clusters(summary, tables, num_classes, resamples, seed):
    """Claim 2: small clusters plus noise; noise falls, SNR rises.
    `tables`: `{tap: clusters.node_table}` (`evidence.node_tables`)."""
    rows, kinds = [], {}
    for name, tap in summary["taps"].items():
        rows.append(
            {
                "tap": name,
                "kind": tap_kind(tap),
                "depth": tap_depth(name, tap),
                **{k: tap[k] for k in TAP_STATS},
            }
        )
        kinds.setdefault(tap_kind(tap), []).append(rows[-1])
    trends = {}
    for kind, kind_rows in kinds.items():
        if len({r["depth"] for r in kind_rows}) < 2:
            continue
        trends[kind] = stats.depth_trend_over_nodes(
            [tables[r["tap"]] for r in kind_rows],
            [r["depth"] for r in kind_rows],
            resamples=resamples,
            seed=seed,
        )
    noise = [
        stats.sign_verdict(
            t["mean_noise"]["slope_low"],
            t["mean_noise"]["slope_high"],
            "negative",
        )
        for t in trends.values()
    ]
    # Both SNR formulas of METHOD.md, each held to the same rule (section
    # 5, "verdict rules"): no formula is picked after the fact.
    snr = [
        stats.sign_verdict(
            t["snr"]["slope_low"], t["snr"]["slope_high"], "positive"
        )
        for t in trends.values()
    ]
    snr_labels = [
        stats.sign_verdict(
            t["snr_labels"]["slope_low"],
            t["snr_labels"]["slope_high"],
            "positive",
        )
        for t in trends.values()
    ]
    fractions = [
        r["mean_diag"] / num_classes
        for r in rows
        if np.isfinite(r["mean_diag"])
    ]
    small = bool(fractions) and max(fractions) < 0.5
    parts = noise + snr + snr_labels
    if parts and all(v == "reproduced" for v in parts) and small:
        verdict = "reproduced"
    elif parts and all(v == "not reproduced" for v in parts):
        verdict = "not reproduced"
    else:
        verdict = INCONCLUSIVE
    return {
        "rows": rows,
        "trends": trends,
        "noise_verdicts": dict(zip(trends, noise)),
        "snr_verdicts": dict(zip(trends, snr)),
        "snr_labels_verdicts": dict(zip(trends, snr_labels)),
        "max_diag_fraction": max(fractions) if fractions else None,
        "small_clusters": small,
        "verdict": verdict,
    }


def _same_tune(a, b):
    """Whether two FineTune dictionaries give identical fine-tunes."""
    return (
        bool(a) and bool(b) and all(a.get(k) == b.get(k) for k in TUNE_FIELDS)
    )


def non_inferiority(low, high, margin=PRUNING_MARGIN):
    """The claim-3 verdict of a difference CI against `-margin`."""
    if low > -margin:
        return "reproduced"
    if high < -margin:
        return "not reproduced"
    return INCONCLUSIVE


def _against_controls(sweep_hits, row, resamples, seed):
    """ANDC minus each control measured at the point of `row` (paired
    bootstrap over the test images): `{method: {difference, low, high}}`."""
    andc = sweep_hits[point_key(row["scope"], row["theta"], "andc")]
    out = {}
    for method in ("random", "magnitude"):
        key = point_key(row["scope"], row["theta"], method)
        if key in sweep_hits:
            d = stats.bootstrap_accuracy_difference(
                andc, sweep_hits[key], resamples, seed=seed
            )
            out[method] = {k: d[k] for k in ("difference", "low", "high")}
    return out


def fixed_sequence_holds_up_to(points):
    """The largest dilution up to which every ANDC point of one scope is
    non-inferior, testing in a fixed order (mildest pruning first) and
    stopping at the first point that is not: each test at the full level,
    the family-wise error still held (the order is fixed before the run).
    None when the mildest point fails.

    Example:
    >>> fixed_sequence_holds_up_to([
    ...     {"dilution": 0.5, "verdict": "reproduced"},
    ...     {"dilution": 0.2, "verdict": "reproduced"},
    ...     {"dilution": 0.7, "verdict": "inconclusive"},
    ...     {"dilution": 0.9, "verdict": "reproduced"}])
    0.5
    """
    held = None
    for point in sorted(points, key=lambda p: p["dilution"]):
        if point["verdict"] != "reproduced":
            break
        held = point["dilution"]
    return held


def sweep_curves(
    pruning,
    n_test,
    hits=None,
    sweep_hits=None,
    resamples=stats.DEFAULT_RESAMPLES,
    seed=0,
    margin=PRUNING_MARGIN,
):
    """The sweep's points with ANDC - `unpruned_fine_tuned` per point.

    With per-image hits of the point (`sweep_hits`, keys
    `scope|theta|method`) and of `unpruned_fine_tuned` (`hits`), the CI
    is the paired bootstrap over the test images, as for the stage's
    row; otherwise the unpaired normal interval of two proportions on
    `n_test` images (wider). Per scope, `holds_up_to` comes from fixed-
    sequence testing (`fixed_sequence_holds_up_to`): the largest dilution
    up to which every ANDC point is non-inferior (CI low > -margin).
    """
    sweep = pruning.get("sweep")
    if not sweep or not sweep.get("rows"):
        return None
    references = {
        **{
            k: v
            for k, v in (pruning.get("accuracy") or {}).items()
            if k in ("unpruned", "unpruned_fine_tuned")
        },
        **(sweep.get("references") or {}),
    }
    reference = references.get("unpruned_fine_tuned")
    base = None
    if hits is not None and "unpruned_fine_tuned" in hits:
        base = hits["unpruned_fine_tuned"]
    rows, scopes, paired = [], {}, []
    for r in sweep["rows"]:
        row = dict(r)
        key = point_key(r["scope"], r["theta"], r["method"])
        if reference is not None and r["method"] == "andc":
            if (
                base is not None
                and sweep_hits is not None
                and (key in sweep_hits)
            ):
                row.update(
                    stats.bootstrap_accuracy_difference(
                        sweep_hits[key], base, resamples, seed=seed
                    )
                )
                row["paired"] = True
                row["controls"] = _against_controls(
                    sweep_hits, r, resamples, seed
                )
            else:
                a = r["accuracy"]
                se = np.sqrt(
                    (a * (1 - a) + reference * (1 - reference)) / max(n_test, 1)
                )
                row["difference"] = a - reference
                row["low"] = row["difference"] - 1.96 * se
                row["high"] = row["difference"] + 1.96 * se
                row["paired"] = False
            paired.append(row["paired"])
            row["verdict"] = non_inferiority(row["low"], row["high"], margin)
        rows.append(row)
    for row in rows:
        if "verdict" in row:
            scopes.setdefault(row["scope"], []).append(row)
    scopes = {
        scope: {
            "holds_up_to": fixed_sequence_holds_up_to(points),
            "points": len(points),
            "procedure": "fixed sequence, mildest dilution first",
        }
        for scope, points in scopes.items()
    }
    return {
        "rows": rows,
        "reference": reference,
        "references": sweep.get("references"),
        "thetas": sweep.get("thetas"),
        "scopes": scopes,
        "paired": bool(paired) and all(paired),
        "fine_tune": sweep.get("fine_tune"),
        "same_fine_tune": _same_tune(
            sweep.get("fine_tune"), pruning.get("fine_tune")
        ),
    }


def _bench(run_dir):
    """`pruned/bench.json` (scripts/bench_pruned.py --run-dir's JSON)."""
    path = os.path.join(run_dir, "pruned", "bench.json")
    return read_json(path) if os.path.isfile(path) else None


def _readout_seeds(run_dir):
    """`snp/readout_seeds.json` (`--readout-seeds N`), if measured."""
    path = os.path.join(run_dir, "snp", "readout_seeds.json")
    return read_json(path) if os.path.isfile(path) else None


def _readout_epochs(run_dir):
    """`readout_epochs.json` (docs/results/.../readout_epochs.py), if
    measured: readout accuracy and V statistics against readout epochs."""
    path = os.path.join(run_dir, "readout_epochs.json")
    return read_json(path) if os.path.isfile(path) else None


PRUNED_SNP_FIELDS = ("readout_accuracy", "snr", "mean_clusters")


def pruned_snp(run_dir):
    """Per tap, the SNP of the model before and after pruning
    (`snp/`, `pruned/snp/`), and each encoder's symmetry breaking
    (`heads/`, `pruned/heads/`); None where the pruned model's SNP was
    not measured."""
    paths = [
        os.path.join(run_dir, *parts, "summary.json")
        for parts in (("snp",), ("pruned", "snp"))
    ]
    if not all(os.path.isfile(p) for p in paths):
        return None
    before, after = (read_json(p)["taps"] for p in paths)
    rows = [
        {
            "tap": name,
            **{
                f"{field}_{when}": taps[name].get(field)
                for field in PRUNED_SNP_FIELDS
                for when, taps in (("before", before), ("after", after))
            },
        }
        for name in before
        if name in after
    ]
    heads = {}
    for when, parts in (("before", ("heads",)), ("after", ("pruned", "heads"))):
        path = os.path.join(run_dir, *parts, "heads.json")
        if os.path.isfile(path):
            heads[when] = [
                bool(e["symmetry_breaking"])
                for e in read_json(path)["encoders"]
            ]
    return {"rows": rows, "symmetry_breaking": heads}


def claim_pruning(run_dir, resamples, seed, n_test=None):
    """Claim 3: ANDC does not affect accuracy: `andc_fine_tuned` is
    non-inferior to `unpruned_fine_tuned` (paired bootstrap over the test
    images, margin `PRUNING_MARGIN`)."""
    path = os.path.join(run_dir, "pruned", "pruning.json")
    if not os.path.isfile(path):
        return None
    pruning = read_json(path)
    # sweep.json: the sweep written beside the stage (sweep.py in
    # docs/results/cifar100-cct_4_3x2-andc), not into pruning.json
    extra = os.path.join(run_dir, "pruned", "sweep.json")
    if os.path.isfile(extra):
        pruning = {**pruning, **read_json(extra)}
    tune = pruning.get("fine_tune") or {}
    predictions = os.path.join(run_dir, "pruned", "predictions.npz")
    hits = load_npz(predictions) if os.path.isfile(predictions) else None
    if hits is not None and not n_test:
        n_test = len(next(iter(hits.values())))
    sweep_path = os.path.join(run_dir, "pruned", "sweep_predictions.npz")
    sweep_hits = load_npz(sweep_path) if os.path.isfile(sweep_path) else None
    out = {
        "table": pruning["accuracy_table"],
        "dilution": pruning["dilution"],
        "params": pruning["params"],
        "prunable_connections": pruning.get("prunable_connections"),
        "dilution_by_scope": pruning.get("dilution_by_scope"),
        "flops": pruning["flops"],
        "margin": PRUNING_MARGIN,
        "fine_tune": tune,
        "scope": pruning.get("scope"),
        "theta": pruning.get("theta"),
        "masks_from": pruning.get("masks_from"),
        "scored_on": pruning.get("scored_on"),
        "random_control": pruning.get("random_control"),
        "shrink": pruning.get("shrink"),
        "sizes": pruning.get("sizes"),
        "structured": pruning.get("structured"),
        "sensitivity": pruning.get("sensitivity"),
        "sweep": sweep_curves(
            pruning, n_test or 1, hits, sweep_hits, resamples, seed
        ),
        "bench": _bench(run_dir),
        "pruned_snp": pruned_snp(run_dir),
        "fine_tune_study": fine_tune_analysis.fine_tune_study(
            run_dir, resamples, seed, PRUNING_MARGIN, non_inferiority
        ),
        "differences": [],
    }
    if hits is not None:
        for a, b in DIFFERENCES:
            if a in hits and b in hits:
                out["differences"].append(
                    {
                        "a": a,
                        "b": b,
                        **stats.bootstrap_accuracy_difference(
                            hits[a], hits[b], resamples, seed=seed
                        ),
                    }
                )
    main = next(
        (d for d in out["differences"] if (d["a"], d["b"]) == DIFFERENCES[0]),
        None,
    )
    out["main"] = main
    if main is None:
        out["verdict"] = INCONCLUSIVE
        out["why"] = (
            "no `unpruned_fine_tuned` row: the pruned model has "
            "no control with the identical fine-tune"
        )
    elif not tune.get("identical_for_all_rows", True):
        out["verdict"] = INCONCLUSIVE
        out["why"] = "the fine-tuned rows did not get identical settings"
    else:
        out["verdict"] = non_inferiority(main["low"], main["high"])
    return out


def untrained_control(run_dir, num_classes, resamples, seed):
    """Claims 2 and 4 measured on the untrained network (the `control`
    stage's `control/snp`, `control/heads`) by the same rules, or None
    when the run has no control. A trend or an expert the untrained
    network shows as well is not something training made."""
    summary_path = os.path.join(run_dir, "control", "snp", "summary.json")
    if not os.path.isfile(summary_path):
        return None
    summary = read_json(summary_path)
    tables = evidence.node_tables(
        run_dir, summary["theta"], os.path.join("control", "snp")
    )
    return {
        "clusters_noise": (
            None
            if tables is None
            else claim_clusters(summary, tables, num_classes, resamples, seed)
        ),
        "heads": claim_heads(os.path.join(run_dir, "control"), resamples, seed),
    }


def claim_heads(run_dir, resamples, seed):
    """Claim 4: heads become experts in label subsets."""
    path = os.path.join(run_dir, "heads", "heads.json")
    if not os.path.isfile(path):
        return None
    heads = read_json(path)
    rng = np.random.default_rng(seed)
    encoders = []
    for e in heads["encoders"]:
        contrasts = np.array(
            [
                h["ablation"]["contrast"]
                for h in e["heads"]
                if h.get("ablation")
                and h["ablation"].get("contrast") is not None
            ]
        )
        interval = (e["ablation"] or {}).get("mean_contrast_ci") or [None]
        over = "test images"
        if interval[0] is not None:
            # The heads stage's bootstrap over the test images.
            low, high = interval
        elif len(contrasts):
            over = "heads"  # reports written before the image bootstrap
            boot = [
                contrasts[
                    rng.integers(0, len(contrasts), len(contrasts))
                ].mean()
                for _ in range(resamples)
            ]
            low, high = stats.percentile_ci(boot)
        else:
            low = high = float("nan")
        encoders.append(
            {
                "encoder": e["encoder"],
                "num_heads": e["num_heads"],
                "metrics": e["metrics"],
                "null": e["null"],
                "null_permuted": e.get("null_permuted") or {},
                "symmetry_breaking": e["symmetry_breaking"],
                "labels_per_head": [h["num_labels"] for h in e["heads"]],
                "contrasts": contrasts.tolist(),
                "mean_contrast": (e["ablation"] or {}).get("mean_contrast"),
                "contrast_low": low,
                "contrast_high": high,
                "contrast_interval_over": over,
            }
        )
    breaking = [e["symmetry_breaking"] for e in encoders]
    contrast = [
        stats.sign_verdict(e["contrast_low"], e["contrast_high"], "positive")
        for e in encoders
    ]
    if breaking and all(breaking) and all(c == "reproduced" for c in contrast):
        verdict = "reproduced"
    elif (
        breaking
        and not any(breaking)
        and all(c != "reproduced" for c in contrast)
    ):
        verdict = "not reproduced"
    else:
        verdict = INCONCLUSIVE
    return {
        "encoders": encoders,
        "claim_metrics": heads["claim_metrics"],
        "p_threshold": heads["p_threshold"],
        "null_samples": heads["null_samples"],
        "contrast_verdicts": contrast,
        "verdict": verdict,
    }


def analyze_run(
    run_dir, resamples=stats.DEFAULT_RESAMPLES, seed=0, clusters_noise=None
):
    """Every number of REPORT.md for the run folder `run_dir`.

    `run_dir` may be a run folder or the evidence of its report
    (`evidence.write_evidence`: per-node statistics instead of fields).
    `clusters_noise`: claim 2 as measured before (a `report.json`'s
    `claims.clusters_noise`), for a run folder with neither; None
    measures it.
    """
    state = read_json(os.path.join(run_dir, "run.json"))
    summary = read_json(os.path.join(run_dir, "snp", "summary.json"))
    sizes = state.get("dataset", {}).get("split_sizes", {})
    n_test = int(sizes.get("test") or 0) or 1
    num_classes = summary["num_classes"]
    train = state["stages"].get("train", {})
    if clusters_noise is None:
        tables = evidence.node_tables(run_dir, summary["theta"])
        if tables is None:
            raise UsageError(
                f"{run_dir} has neither snp/snp.npz nor snp/nodes.npz: "
                "claim 2 cannot be measured."
            )
        clusters_noise = claim_clusters(
            summary, tables, num_classes, resamples, seed
        )
    return {
        "run_name": state["run_name"],
        "run_dir": run_dir,
        "command": (state.get("reproduce") or {}).get("command"),
        "not_learned": state.get("not_learned"),
        "not_converged": [
            name
            for name, tap in summary["taps"].items()
            if (tap.get("convergence") or {}).get("converged") is False
        ],
        "model": (state.get("reproduce") or {}).get("model", "cct"),
        "versions": state.get("versions", {}),
        "config": state["config"],
        "dataset": {
            k: v
            for k, v in state.get("dataset", {}).items()
            if k != "label_names"
        },
        "params": state.get("model", {}).get("params"),
        "test_accuracy": train.get("test_accuracy"),
        "epochs_trained": (train.get("final_epoch") or {}).get("epoch"),
        "stage_seconds": _stage_seconds(state),
        "theta": summary["theta"],
        "readout": summary["readout"],
        "num_classes": num_classes,
        "resamples": resamples,
        "readout_epochs": _readout_epochs(run_dir),
        "placement": state.get("placement") or {},
        "claims": {
            "accuracy_depth": claim_accuracy(
                summary, n_test, resamples, seed, _readout_seeds(run_dir)
            ),
            "clusters_noise": clusters_noise,
            "pruning": claim_pruning(run_dir, resamples, seed, n_test),
            "heads": claim_heads(run_dir, resamples, seed),
        },
        "untrained_control": untrained_control(
            run_dir, num_classes, resamples, seed
        ),
    }
