"""REPORT.md's untrained control of claims 2 and 4 (the `control` stage):
the same statistics and verdict rules on the network before training,
beside the trained network's."""

from keras_snp.reproduce.markdown import ci
from keras_snp.reproduce.markdown import fmt
from keras_snp.reproduce.markdown import p_value

#: Claim-2 statistics whose depth slope the control is compared on.
TREND_STATS = ("mean_noise", "snr", "snr_labels", "mean_diag")

NOT_RUN = (
    "Untrained control: not measured (the run has no `control` stage; "
    "`--resume --stages control` adds it)."
)


def control_verdict(a, key):
    """The control's verdict of claim `key` ("clusters_noise", "heads"),
    or None where there is none."""
    control = a.get("untrained_control") or {}
    claim = control.get(key)
    return claim["verdict"] if claim else None


def control_clusters(trained, control):
    """Lines: each tap kind's depth slopes, trained beside untrained."""
    if control is None or control.get("clusters_noise") is None:
        return [NOT_RUN]
    untrained = control["clusters_noise"]
    lines = [
        "Untrained control (the same network at its initialisation with "
        "the run's seed, measured the same way; slope per encoder, 95% CI "
        "over nodes):",
        "",
        "| kind | statistic | trained slope (CI) | untrained slope (CI) |",
        "| --- | --- | --- | --- |",
    ]
    for kind, trend in trained["trends"].items():
        other = untrained["trends"].get(kind, {})
        for stat in TREND_STATS:
            t, u = trend.get(stat), other.get(stat)
            if t is None:
                continue
            cells = [
                f"{fmt(x['slope'])} {ci(x['slope_low'], x['slope_high'])}"
                if x
                else "n/a"
                for x in (t, u)
            ]
            lines.append(f"| {kind} | {stat} | {cells[0]} | {cells[1]} |")
    lines += [
        "",
        f"By the same rules the untrained network's claim 2 is "
        f"**{untrained['verdict']}** (largest mean diagonal set "
        f"{fmt(untrained['max_diag_fraction'], 3)} of the labels); noise "
        "falls: "
        + ", ".join(f"{k}: {v}" for k, v in untrained["noise_verdicts"].items())
        + "; `snr` rises: "
        + ", ".join(f"{k}: {v}" for k, v in untrained["snr_verdicts"].items())
        + "; `snr_labels` rises: "
        + ", ".join(
            f"{k}: {v}" for k, v in untrained["snr_labels_verdicts"].items()
        )
        + ".",
    ]
    return lines


def control_heads(control):
    """Lines: the heads' tests on the untrained network."""
    if control is None or control.get("heads") is None:
        return [NOT_RUN]
    heads = control["heads"]
    metrics = heads["claim_metrics"]
    lines = [
        "Untrained control (the same nulls, Holm correction and ablation "
        "on the network at its initialisation):",
        "",
        "| encoder | labels per head | "
        + " | ".join(f"{m} p, node-shuffle null" for m in metrics)
        + " | "
        + " | ".join(f"{m} p, label-renaming null" for m in metrics)
        + " | symmetry breaking | ablation contrast (CI) |",
        "| --- | --- | "
        + " | ".join("---" for _ in 2 * metrics)
        + " | --- | --- |",
    ]
    for e in heads["encoders"]:
        ps = [
            p_value((e.get(family) or {}).get(m) or {})
            for family in ("null", "null_permuted")
            for m in metrics
        ]
        lines.append(
            f"| {e['encoder']} | {e['labels_per_head']} | "
            + " | ".join(ps)
            + f" | {e['symmetry_breaking']} | {fmt(e['mean_contrast'])} "
            f"{ci(e['contrast_low'], e['contrast_high'])} |"
        )
    lines += [
        "",
        f"By the same rules the untrained network's claim 4 is "
        f"**{heads['verdict']}**.",
    ]
    return lines
