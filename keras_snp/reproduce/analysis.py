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

from keras_snp.reproduce import stats
from keras_snp.utils import read_json

TAP_STATS = ("mean_diag", "mean_clusters", "mean_cluster_size", "mean_noise",
             "snr", "empty_fraction")
# ANDC "does not affect accuracy": non-inferiority margin (choice).
PRUNING_MARGIN = 0.01
DIFFERENCES = (("andc_fine_tuned", "unpruned"),
               ("andc_masked", "unpruned"),
               ("andc_fine_tuned", "random_fine_tuned"),
               ("andc_fine_tuned", "magnitude_fine_tuned"))
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
    """Seconds per stage, from consecutive `finished_at` stamps."""
    start = state.get("created_at")
    out = {}
    for name, stage in state.get("stages", {}).items():
        end = stage.get("finished_at")
        if start and end:
            out[name] = (datetime.datetime.fromisoformat(end)
                         - datetime.datetime.fromisoformat(start)
                         ).total_seconds()
        start = end or start
    return out


def _load_snp(run_dir):
    summary = read_json(os.path.join(run_dir, "snp", "summary.json"))
    arrays = np.load(os.path.join(run_dir, "snp", "snp.npz"))
    return summary, arrays


def claim_accuracy(summary, n_test, resamples, seed):
    """Claim 1: readout accuracy rises with depth."""
    rows, by_kind = [], {}
    for name, tap in summary["taps"].items():
        depth = tap_depth(name, tap)
        rows.append({"tap": name, "kind": tap_kind(tap), "depth": depth,
                     "nodes": tap["nodes"], "tokens": tap["tokens"],
                     "readout_accuracy": tap["readout_accuracy"]})
        by_kind.setdefault(tap_kind(tap), []).append(rows[-1])
    correlations = {}
    for kind, kind_rows in by_kind.items():
        correlations[kind] = stats.depth_correlation_accuracy(
            [r["depth"] for r in kind_rows],
            [r["readout_accuracy"] for r in kind_rows], n_test,
            resamples=resamples, seed=seed)
    pooled = stats.depth_correlation_accuracy(
        [r["depth"] for r in rows], [r["readout_accuracy"] for r in rows],
        n_test, resamples=resamples, seed=seed,
        groups=[r["kind"] for r in rows])
    verdict = stats.sign_verdict(pooled["low"], pooled["high"], "positive")
    return {"rows": rows, "by_kind": correlations, "pooled": pooled,
            "n_test": n_test, "verdict": verdict}


def claim_clusters(summary, arrays, theta, num_classes, resamples, seed):
    """Claim 2: small clusters plus noise; noise falls, SNR rises."""
    rows, tables, kinds = [], {}, {}
    for name, tap in summary["taps"].items():
        rows.append({"tap": name, "kind": tap_kind(tap),
                     "depth": tap_depth(name, tap),
                     **{k: tap[k] for k in TAP_STATS}})
        tables[name] = stats.node_table(arrays[f"{name}.V"], theta)
        kinds.setdefault(tap_kind(tap), []).append(rows[-1])
    trends = {}
    for kind, kind_rows in kinds.items():
        if len({r["depth"] for r in kind_rows}) < 2:
            continue
        trends[kind] = stats.depth_trend_over_nodes(
            [tables[r["tap"]] for r in kind_rows],
            [r["depth"] for r in kind_rows], resamples=resamples, seed=seed)
    noise = [stats.sign_verdict(t["mean_noise"]["slope_low"],
                                t["mean_noise"]["slope_high"], "negative")
             for t in trends.values()]
    snr = [stats.sign_verdict(t["snr"]["slope_low"], t["snr"]["slope_high"],
                              "positive") for t in trends.values()]
    fractions = [r["mean_diag"] / num_classes for r in rows
                 if np.isfinite(r["mean_diag"])]
    small = bool(fractions) and max(fractions) < 0.5
    parts = noise + snr
    if parts and all(v == "reproduced" for v in parts) and small:
        verdict = "reproduced"
    elif parts and all(v == "not reproduced" for v in parts):
        verdict = "not reproduced"
    else:
        verdict = INCONCLUSIVE
    return {"rows": rows, "trends": trends, "noise_verdicts": dict(
        zip(trends, noise)), "snr_verdicts": dict(zip(trends, snr)),
        "max_diag_fraction": max(fractions) if fractions else None,
        "small_clusters": small, "verdict": verdict}


def claim_pruning(run_dir, resamples, seed):
    """Claim 3: ANDC does not affect accuracy (non-inferiority)."""
    path = os.path.join(run_dir, "pruned", "pruning.json")
    if not os.path.isfile(path):
        return None
    pruning = read_json(path)
    out = {"table": pruning["accuracy_table"],
           "dilution": pruning["dilution"], "params": pruning["params"],
           "flops": pruning["flops"], "margin": PRUNING_MARGIN,
           "fine_tune": pruning.get("fine_tune"),
           "scope": pruning.get("scope"),
           "differences": []}
    predictions = os.path.join(run_dir, "pruned", "predictions.npz")
    if os.path.isfile(predictions):
        hits = np.load(predictions)
        for a, b in DIFFERENCES:
            if a in hits and b in hits:
                out["differences"].append({
                    "a": a, "b": b, **stats.bootstrap_accuracy_difference(
                        hits[a], hits[b], resamples, seed=seed)})
    main = next((d for d in out["differences"]
                 if (d["a"], d["b"]) == DIFFERENCES[0]), None)
    if main is None:
        out["verdict"] = INCONCLUSIVE
    elif main["low"] > -PRUNING_MARGIN:
        out["verdict"] = "reproduced"
    elif main["high"] < -PRUNING_MARGIN:
        out["verdict"] = "not reproduced"
    else:
        out["verdict"] = INCONCLUSIVE
    return out


def claim_heads(run_dir, resamples, seed):
    """Claim 4: heads become experts in label subsets."""
    path = os.path.join(run_dir, "heads", "heads.json")
    if not os.path.isfile(path):
        return None
    heads = read_json(path)
    rng = np.random.default_rng(seed)
    encoders = []
    for e in heads["encoders"]:
        contrasts = np.array([h["ablation"]["contrast"] for h in e["heads"]
                              if h.get("ablation") and
                              h["ablation"].get("contrast") is not None])
        if len(contrasts):
            boot = [contrasts[rng.integers(0, len(contrasts),
                                           len(contrasts))].mean()
                    for _ in range(resamples)]
            low, high = stats.percentile_ci(boot)
        else:
            low = high = float("nan")
        encoders.append({
            "encoder": e["encoder"], "num_heads": e["num_heads"],
            "metrics": e["metrics"], "null": e["null"],
            "symmetry_breaking": e["symmetry_breaking"],
            "labels_per_head": [h["num_labels"] for h in e["heads"]],
            "contrasts": contrasts.tolist(),
            "mean_contrast": (e["ablation"] or {}).get("mean_contrast"),
            "contrast_low": low, "contrast_high": high,
        })
    breaking = [e["symmetry_breaking"] for e in encoders]
    contrast = [stats.sign_verdict(e["contrast_low"], e["contrast_high"],
                                   "positive") for e in encoders]
    if breaking and all(breaking) and all(c == "reproduced"
                                          for c in contrast):
        verdict = "reproduced"
    elif breaking and not any(breaking) and all(
            c != "reproduced" for c in contrast):
        verdict = "not reproduced"
    else:
        verdict = INCONCLUSIVE
    return {"encoders": encoders, "claim_metrics": heads["claim_metrics"],
            "p_threshold": heads["p_threshold"],
            "null_samples": heads["null_samples"],
            "contrast_verdicts": contrast, "verdict": verdict}


def analyze_run(run_dir, resamples=stats.DEFAULT_RESAMPLES, seed=0):
    """Every number of REPORT.md for the run folder `run_dir`."""
    state = read_json(os.path.join(run_dir, "run.json"))
    summary, arrays = _load_snp(run_dir)
    sizes = state.get("dataset", {}).get("split_sizes", {})
    n_test = int(sizes.get("test") or 0) or 1
    num_classes = summary["num_classes"]
    train = state["stages"].get("train", {})
    return {
        "run_name": state["run_name"],
        "command": (state.get("reproduce") or {}).get("command"),
        "model": (state.get("reproduce") or {}).get("model", "cct"),
        "versions": state.get("versions", {}),
        "config": state["config"],
        "dataset": {k: v for k, v in state.get("dataset", {}).items()
                    if k != "label_names"},
        "params": state.get("model", {}).get("params"),
        "test_accuracy": train.get("test_accuracy"),
        "epochs_trained": (train.get("final_epoch") or {}).get("epoch"),
        "stage_seconds": _stage_seconds(state),
        "theta": summary["theta"], "readout": summary["readout"],
        "num_classes": num_classes, "resamples": resamples,
        "claims": {
            "accuracy_depth": claim_accuracy(summary, n_test, resamples,
                                             seed),
            "clusters_noise": claim_clusters(summary, arrays,
                                             summary["theta"], num_classes,
                                             resamples, seed),
            "pruning": claim_pruning(run_dir, resamples, seed),
            "heads": claim_heads(run_dir, resamples, seed),
        },
    }
