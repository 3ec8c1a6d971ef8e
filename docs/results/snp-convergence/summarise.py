"""Renders the tables and the figure of `docs/results/snp-convergence.md`
from the JSON files `measure.py` wrote.

    python docs/results/snp-convergence/summarise.py docs/results/snp-convergence
"""

import json
import os
import sys


def _load(folder, part):
    path = os.path.join(folder, f"{part}.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def _f(value, spec):
    return "-" if value is None else format(value, spec)


def damping_tables(d):
    lines = [
        f"Cached rows per tap: {d['rows']:,} ({d['views']} views). "
        f"Command: `{d['command']}`",
        "",
        "| tap | damping (x mean eigenvalue) | passes to 1e-3 | seconds "
        "| objective |",
        "| --- | --- | --- | --- | --- |",
    ]
    for tap, t in d["taps"].items():
        for r in t["dampings"]:
            lines.append(
                f"| {tap} | {r['damping']:g} | {r['passes']} "
                f"| {r['seconds']:.0f} | {r['objective']:.6f} |"
            )
    lines += [
        "",
        "One tight solve per tap (relative gradient 1e-4) is the reference;"
        " `W` was kept when the relative gradient first fell below each "
        "tolerance. Objectives on the independent 8-view evaluation cache.",
        "",
        "| tap | tolerance | passes | objective (eval) | same diagonal set "
        "| same clusters | readout acc. | mean_diag |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    return lines + _tolerance_rows(d["taps"], "objective_eval", 6)


def tolerance_table(t):
    lines = [
        f"Cached rows per tap: {t['rows']:,} ({t['views']} views). "
        f"Command: `{t['command']}`",
        "",
        "| tap | tolerance | passes | objective | same diagonal set "
        "| same clusters | readout acc. | mean_diag |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    return lines + _tolerance_rows(t["taps"], "objective", 7)


def _tolerance_rows(taps, objective, digits):
    """Rows of a tolerance table: each kept `W`, then the reference."""
    lines = []
    for tap, d in taps.items():
        for r in d["tolerances"]:
            lines.append(
                f"| {tap} | {r['tolerance']:g} | {r['passes']} "
                f"| {r[objective]:.{digits}f} | {r['same_diag']:.1%} "
                f"| {r['same_clusters']:.1%} | {r['readout_accuracy']:.4f} "
                f"| {r['mean_diag']:.2f} |"
            )
        ref = d["reference"]
        lines.append(
            f"| {tap} | reference ({ref['relative_grad_norm']:.1e}) "
            f"| {ref['passes']} | {ref[objective]:.{digits}f} | 100% "
            "| 100% | | |"
        )
    return lines


LAB_COMMAND = (
    "python docs/results/snp-convergence/measure.py MODEL OUT --npz "
    "../shared/data/cifar100/cifar100.npz --label-names "
    "../shared/data/cifar100/label_names.json#fine_label_names "
    "--per-class 50 --taps encoder_2_mha encoder_4_out --part lab"
)

STATS = (
    "readout_accuracy",
    "mean_diag",
    "mean_noise",
    "snr",
    "snr_labels",
)


def view_fit(rows):
    """Least squares of `objective_eval = f_inf + c / views` over the rows:
    `(f_inf, c)`, the objective an unlimited count of views would reach
    (the expectation over the augmentation) and the over-fit scale."""
    import numpy as np

    views = np.array([r["views"] for r in rows], float)
    values = np.array([r["objective_eval"] for r in rows], float)
    design = np.stack([np.ones_like(views), 1.0 / views], axis=1)
    (f_inf, c), *_ = np.linalg.lstsq(design, values, rcond=None)
    return float(f_inf), float(c)


def views_table(v, lab=None):
    reference = v.get("reference_views", 8)
    lines = [
        f"Command: `{v.get('command', '(running)')}`",
        "",
        "| tap | views | rows | passes | objective (cached) "
        f"| objective (eval) | same diag. as {reference} "
        f"| same clusters as {reference} | " + " | ".join(STATS) + " |",
        "| --- " * (8 + len(STATS)) + "|",
    ]
    fits = []
    for tap, rows in v["taps"].items():
        for r in sorted(rows, key=lambda r: r["views"]):
            same_diag = r.get("same_diag_as_reference", r.get("same_diag_as_8"))
            same_clusters = r.get(
                "same_clusters_as_reference", r.get("same_clusters_as_8")
            )
            lines.append(
                f"| {tap} | {r['views']} | {_f(r.get('rows'), ',')} "
                f"| {r['passes']} | {_f(r.get('objective_cached'), '.4f')} "
                f"| {r['objective_eval']:.4f} | {same_diag:.1%} "
                f"| {same_clusters:.1%} | "
                + " | ".join(_f(r[s], ".4f") for s in STATS)
                + " |"
            )
        if len(rows) >= 2:
            fits.append((tap, *view_fit(rows)))
    if fits:
        lines += [
            "",
            "Fit `objective (eval) = f_inf + c / views` per tap; `views for "
            "1 %` is where `c / views` falls to 1 % of `f_inf`:",
            "",
            "| tap | f_inf | c | views for 1 % | lab, last epoch |",
            "| --- | --- | --- | --- | --- |",
        ]
        for tap, f_inf, c in fits:
            last = (lab or {}).get("lab", {}).get(tap, [])
            lab_cell = (
                f"{last[-1]['objective_eval']:.4f} (epoch {last[-1]['epoch']})"
                if last
                else "-"
            )
            need = c / (0.01 * f_inf) if f_inf > 0 else float("nan")
            lines.append(
                f"| {tap} | {f_inf:.4f} | {c:.4f} | {need:.0f} | {lab_cell} |"
            )
    return lines


def lab_table(lab):
    lines = [
        f"Command: `{lab.get('command', LAB_COMMAND)}`",
        "",
        "| tap | readout | objective (eval) | same diag. as solver "
        "| same clusters as solver | " + " | ".join(STATS) + " |",
        "| --- " * (5 + len(STATS)) + "|",
    ]
    for tap, rows in lab["lab"].items():
        for r in rows:
            lines.append(
                f"| {tap} | lab, epoch {r['epoch']} "
                f"| {r['objective_eval']:.6f} "
                f"| {r['same_diag_as_solver']:.1%} "
                f"| {r['same_clusters_as_solver']:.1%} | "
                + " | ".join(_f(r[s], ".4f") for s in STATS)
                + " |"
            )
        s = lab["solver"][tap]
        lines.append(
            f"| {tap} | solver ({s['passes']} passes) "
            f"| {s['objective_eval']:.6f} | 100% | 100% | "
            + " | ".join(_f(s[k], ".4f") for k in STATS)
            + " |"
        )
    return lines


def streaming_table(st, lab=None):
    lines = [
        f"Command: `{st.get('command', '(running)')}`",
        "",
        "| tap | epoch | objective (eval), last | objective (eval), mean "
        "| lab at the same epoch | readout acc. (mean) | mean_diag (mean) |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tap, rows in st["taps"].items():
        lab_rows = {
            r["epoch"]: r for r in (lab or {}).get("lab", {}).get(tap, [])
        }
        for r in rows:
            mean = r.get("mean") or {}
            lab_row = lab_rows.get(r["epoch"])
            lines.append(
                f"| {tap} | {r['epoch']} | {r['last']['objective_eval']:.4f} "
                f"| {_f(mean.get('objective_eval'), '.4f')} "
                f"| {_f(lab_row and lab_row['objective_eval'], '.4f')} "
                f"| {_f(mean.get('readout_accuracy'), '.4f')} "
                f"| {_f(mean.get('mean_diag'), '.2f')} |"
            )
    return lines


def lab_figure(lab, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(STATS), figsize=(3.2 * len(STATS), 3))
    for tap, rows in lab["lab"].items():
        epochs = [r["epoch"] for r in rows]
        for ax, stat in zip(axes, STATS):
            (line,) = ax.plot(
                epochs, [r[stat] for r in rows], marker="o", label=tap
            )
            ax.axhline(
                lab["solver"][tap][stat],
                color=line.get_color(),
                linestyle="--",
            )
    for ax, stat in zip(axes, STATS):
        ax.set_xscale("log")
        ax.set_xlabel("lab readout epochs")
        ax.set_title(stat)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small", title="dashed: solver")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def floor_tables(floor, runs):
    """The noise floor (`floor.py compare`): each readout's resolution on
    the test set, then every pair's agreement."""
    lines = [
        "Command per readout: `docs/results/snp-convergence/floor.py run "
        "MODEL OUT --npz ... --label-names ... --per-class 20 --taps "
        "encoder_2_mha encoder_4_out --method M --seed S`; then `floor.py "
        f"compare` ({floor['resamples']} class-stratified bootstrap "
        "resamples of the 10,000 test images).",
        "",
        "| tap | readout | objective (eval) | readout acc. | mean_diag | "
        "same diag. set on a resampled test set | labels flipping per "
        "node | nodes with no label flipping > 5 % |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for tap, entry in floor["taps"].items():
        for name, r in entry["readouts"].items():
            run = runs.get(name, {}).get(tap, {})
            lines.append(
                f"| {tap} | {name} | {_f(run.get('objective_eval'), '.4f')} "
                f"| {_f(run.get('readout_accuracy'), '.4f')} | "
                f"{r['mean_diag']:.2f} | {r['same_diag_as_full_test']:.1%} | "
                f"{r['labels_flipping_per_resample']:.2f} | "
                f"{r['nodes_fully_resolved']:.1%} |"
            )
    lines += [
        "",
        "| tap | a | b | same diagonal set | same clusters | same diagonal "
        "set up to labels the test set does not resolve |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for tap, entry in floor["taps"].items():
        for p in entry["pairs"]:
            lines.append(
                f"| {tap} | {p['a']} | {p['b']} | {p['same_diag']:.1%} | "
                f"{p['same_clusters']:.1%} | "
                f"{p['same_diag_up_to_unresolved']:.1%} |"
            )
    return lines


def main(folder):
    sections = []
    tolerance = _load(folder, "tolerance")
    if tolerance:
        sections += ["## Tolerance", "", *tolerance_table(tolerance)]
    damping = _load(folder, "damping_float32")
    if damping:
        sections += [
            "",
            "## Damping, and float32 products only",
            "",
            *damping_tables(damping),
        ]
    views = _load(folder, "views")
    if views:
        lab = _load(folder, "lab")
        sections += [
            "",
            "## Augmented views",
            "",
            *views_table(views, lab),
        ]
    streaming = _load(folder, "streaming")
    if streaming:
        sections += [
            "",
            "## Fresh views, warm-started (stochastic)",
            "",
            *streaming_table(streaming, _load(folder, "lab")),
        ]
    lab = _load(folder, "lab")
    if lab:
        figure = os.path.join(folder, "readout_convergence.png")
        lab_figure(lab, figure)
        sections += [
            "",
            "## Against the lab's protocol",
            "",
            *lab_table(lab),
            "",
            f"![readout convergence]({os.path.basename(folder)}/"
            "readout_convergence.png)",
        ]
    floor = _load(folder, "floor")
    if floor:
        runs = {}
        for name in os.listdir(folder):
            if name.startswith("floor-") and name.endswith(".json"):
                runs[name[6:-5]] = _load(folder, name[:-5])
        sections += [
            "",
            "## The noise floor of the diagonal sets",
            "",
            *floor_tables(floor, runs),
        ]
    print("\n".join(sections))


if __name__ == "__main__":
    main(sys.argv[1])
