"""Writes a `HeadsReport`: `heads.json`, `heads.md`, `encoder_{l}.png` and
TensorBoard summaries. Formatting only; the numbers are computed already.
"""

import logging
import os

import numpy as np

from keras_snp.heads.schema import validate_heads_json
from keras_snp.utils import atomic_path
from keras_snp.utils import write_json
from keras_snp.utils import write_text

logger = logging.getLogger(__name__)

TB_SCALARS = ("coverage", "mean_jaccard", "mean_entropy",
              "mean_labels_per_head", "mean_heads_per_label")


def _fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.1f}"


def encoder_stem(encoder):
    return f"encoder_{encoder['encoder'] or encoder['tap']}"


def _null_text(encoder, key, label):
    stat = encoder["null"].get(key)
    value = _fmt(encoder["metrics"][key])
    if not stat:
        return f"{label} {value} (no null model)"
    return (f"{label} {value} against a null of {_fmt(stat['null_mean'])} "
            f"± {_fmt(stat['null_std'])} (z = {_fmt(stat['z'], 2)}, "
            f"p = {_fmt(stat['p'])})")


def verdict(encoder, report):
    """One paragraph with the encoder's numbers and the symmetry verdict."""
    m = encoder["metrics"]
    K = report["num_classes"]
    sizes = [h["num_labels"] for h in encoder["heads"]]
    covered = sum(1 for v in encoder["heads_per_label"] if v)
    parts = [
        f"{encoder['num_heads']} heads are experts in {min(sizes)} to "
        f"{max(sizes)} labels each (mean {_fmt(m['mean_labels_per_head'], 1)})"
        f" and cover {covered} of {K} labels (coverage "
        f"{_fmt(m['coverage'])}); a covered label is recognised by "
        f"{_fmt(m['mean_heads_per_label'], 2)} heads on average.",
        _null_text(encoder, "mean_entropy",
                   "Mean normalised expertise entropy") + ";",
        _null_text(encoder, "mean_jaccard", "mean pairwise Jaccard") + ".",
    ]
    missing = encoder["labels_without_expert"]
    if missing:
        parts.append(f"{len(missing)} labels have no expert node and are "
                     "left out of the entropy.")
    if not encoder["null"]:
        parts.append("Symmetry breaking: not tested (no null samples).")
    elif encoder["symmetry_breaking"]:
        parts.append(f"Symmetry breaking: **claimed** (entropy and Jaccard "
                     f"both below the null at p < {report['p_threshold']}).")
    else:
        parts.append(f"Symmetry breaking: **not claimed** (the data do not "
                     f"beat the null at p < {report['p_threshold']} on both "
                     "entropy and Jaccard).")
    ablation = encoder["ablation"]
    if ablation:
        on = [h["ablation"]["mean_drop_on_labels"] for h in encoder["heads"]]
        off = [h["ablation"]["mean_drop_on_others"] for h in encoder["heads"]]
        on = [v for v in on if v is not None]
        off = [v for v in off if v is not None]
        parts.append(
            "Silencing a head drops accuracy by "
            f"{_pct(np.mean(on) if on else None)} points on its own labels "
            f"against {_pct(np.mean(off) if off else None)} on the others "
            f"(mean contrast {_pct(ablation['mean_contrast'])} points; "
            f"intact accuracy {_pct(ablation['base_accuracy'])} %).")
    return " ".join(parts)


def to_markdown(report):
    """The `heads.md` text of a `heads.json` dictionary."""
    lines = [
        "# Heads: label experts",
        "",
        f"theta {report['theta']}, K = {report['num_classes']}, null model: "
        f"{report['null_samples']} shuffles of nodes among the heads of "
        f"each encoder (seed {report['seed']}). Head-only accuracy and "
        "ablation drops in percent: on the head's labels / on the others.",
    ]
    for enc in report["encoders"]:
        lines += ["", f"## Encoder {enc['encoder']} (`{enc['tap']}`)", "",
                  "| head | nodes | labels | expert labels | head-only acc "
                  "| ablation drop |",
                  "| --- | --- | --- | --- | --- | --- |"]
        for h in enc["heads"]:
            names = ", ".join(h["label_names"]) or "(none)"
            only, abl = h["head_only"], h["ablation"]
            only_text = "n/a"
            if only:
                only_text = (f"{_pct(only['accuracy'])} "
                             f"({_pct(only['mean_on_labels'])} / "
                             f"{_pct(only['mean_on_others'])})")
            abl_text = (f"{_pct(abl['mean_drop_on_labels'])} / "
                        f"{_pct(abl['mean_drop_on_others'])}" if abl else "n/a")
            lines.append(f"| {h['head']} | {h['num_nodes']} | "
                         f"{h['num_labels']} | {names} | {only_text} | "
                         f"{abl_text} |")
        lines += ["", verdict(enc, report)]
    return "\n".join(lines) + "\n"


def heatmap_figure(encoder, label_names):
    """A matplotlib `Figure`: heads x labels, normalised `V_h` diagonal
    (top, dots on `L_h`) and expertise `E[h, c]` (bottom)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    heads = encoder["heads"]
    H, K = len(heads), len(label_names)
    diag = np.array([h["diag_strength"] for h in heads], dtype=float)
    E = np.array([[np.nan if v is None else v for v in h["expertise"]]
                  for h in heads], dtype=float)
    width = max(8.0, 0.15 * K + 2.5)
    row = max(1.6, 0.35 * H + 1.0)
    fig = Figure(figsize=(width, 2 * row + 2.2), dpi=140)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1, sharex=True)
    font = 6 if K > 40 else 8
    panels = [(diag, "normalised diagonal of V_h (dots: L_h)"),
              (E, "expertise E[h, c] = n_h(c) / sum_h' n_h'(c)")]
    for ax, (values, title) in zip(axes, panels):
        image = ax.imshow(np.ma.masked_invalid(values), aspect="auto",
                          cmap="viridis", vmin=0, vmax=1,
                          interpolation="nearest")
        ax.set_title(f"encoder {encoder['encoder']}: {title}", fontsize=9)
        ax.set_yticks(range(H), [f"head {h}" for h in range(H)], fontsize=7)
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    for h, head in enumerate(heads):
        axes[0].scatter(head["labels"], [h] * len(head["labels"]), s=4,
                        c="red", marker="o")
    axes[1].set_xticks(range(K), label_names, rotation=90, fontsize=font)
    axes[1].set_xlim(-0.5, K - 0.5)
    fig.tight_layout()
    return fig


def write_heads_report(report, out_dir):
    """Writes `heads.json`, `heads.md`, `encoder_{l}.png` into `out_dir`
    (atomically). `keras_snp.run.heads_board.log_heads` puts the same
    report on TensorBoard.

    Args:
        report: a `HeadsReport` (or its `to_dict()`).
        out_dir: folder, e.g. `<run>/heads`.

    Returns:
        `{"json": path, "markdown": path, "png": [paths]}`.
    """
    data = report.to_dict() if hasattr(report, "to_dict") else report
    validate_heads_json(data)
    os.makedirs(out_dir, exist_ok=True)
    paths = {"json": os.path.join(out_dir, "heads.json"),
             "markdown": os.path.join(out_dir, "heads.md"), "png": []}
    write_json(paths["json"], data)
    markdown = to_markdown(data)
    write_text(paths["markdown"], markdown)
    for enc in data["encoders"]:
        path = os.path.join(out_dir, encoder_stem(enc) + ".png")
        fig = heatmap_figure(enc, data["label_names"])
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format="png")
        paths["png"].append(path)
    logger.info("head report written to %s", out_dir)
    return paths
