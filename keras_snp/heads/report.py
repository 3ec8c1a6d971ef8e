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

TB_SCALARS = (
    "coverage",
    "mean_jaccard",
    "mean_entropy",
    "mean_labels_per_head",
    "mean_heads_per_label",
)


def _fmt(value, digits=3):
    return "n/a" if value is None else f"{value:.{digits}f}"


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.1f}"


def encoder_stem(encoder):
    return f"encoder_{encoder['encoder'] or encoder['tap']}"


def _null_text(encoder, key, label, family="null"):
    stat = (encoder.get(family) or {}).get(key)
    value = _fmt(encoder["metrics"][key])
    if not stat:
        return f"{label} {value}"
    z = "" if stat["z"] is None else f", z = {_fmt(stat['z'], 2)}"
    holm = stat.get("p_holm")  # absent from reports written before Holm
    holm = "" if holm is None else f", Holm {_fmt(holm)}"
    return (
        f"{label} {value} (null {_fmt(stat['null_mean'])} ± "
        f"{_fmt(stat['null_std'])}{z}, p = {_fmt(stat['p'])}{holm})"
    )


def _points(value):
    """Accuracy change in signed percentage points."""
    return f"{0.0 + 100 * value:+.1f} points"


def verdict(encoder, report):
    """Plain sentences: the encoder's numbers and the symmetry verdict."""
    m = encoder["metrics"]
    K = report["num_classes"]
    sizes = [h["num_labels"] for h in encoder["heads"]]
    covered = sum(1 for v in encoder["heads_per_label"] if v)
    span = (
        f"{min(sizes)}"
        if min(sizes) == max(sizes)
        else f"{min(sizes)} to {max(sizes)}"
    )
    parts = [
        f"{encoder['num_heads']} heads, each an expert in {span} labels; "
        f"together they cover {covered} of {K} labels, and a covered label "
        f"has {_fmt(m['mean_heads_per_label'], 1)} expert heads on average.",
        "Specialisation: "
        + _null_text(encoder, "mean_entropy", "expertise entropy")
        + " and "
        + _null_text(encoder, "mean_jaccard", "overlap between heads (Jaccard)")
        + "; lower than the null means more "
        "specialised.",
    ]
    missing = encoder["labels_without_expert"]
    if missing:
        parts.append(
            f"{len(missing)} labels have no expert node and are "
            "left out of the entropy."
        )
    if encoder.get("null_permuted"):
        parts.append(
            "Against heads that picked their label sets on their own "
            "(each head's labels renamed at random, its nodes kept "
            "together): "
            + _null_text(encoder, "mean_entropy", "entropy", "null_permuted")
            + " and "
            + _null_text(encoder, "mean_jaccard", "Jaccard", "null_permuted")
            + "."
        )
    threshold = report["p_threshold"]
    if not encoder["null"]:
        parts.append("Symmetry breaking: not tested (no null samples).")
    elif encoder["symmetry_breaking"]:
        parts.append(
            f"Symmetry breaking: **yes**: the heads are more "
            f"specialised than random groupings of their nodes and than "
            f"heads that picked their labels on their own (p < "
            f"{threshold} on entropy and on overlap against both, "
            "Holm-adjusted over the encoders)."
        )
    else:
        parts.append(
            f"Symmetry breaking: **no**: p < {threshold} (Holm-adjusted "
            "over the encoders) is not reached on both entropy and "
            "overlap against both null models (random groupings of the "
            "nodes; heads that picked their labels on their own)."
        )
    ablation = encoder["ablation"]
    if ablation:
        on = [h["ablation"]["mean_drop_on_labels"] for h in encoder["heads"]]
        off = [h["ablation"]["mean_drop_on_others"] for h in encoder["heads"]]
        on = [v for v in on if v is not None]
        off = [v for v in off if v is not None]
        text = "Silencing one head changes test accuracy"
        pieces = []
        if on:
            pieces.append(f"by {_points(-np.mean(on))} on its own labels")
        if off:
            pieces.append(f"by {_points(-np.mean(off))} on the others")
        if pieces:
            text += " " + " and ".join(pieces) + " (mean over heads)"
        text += (
            f"; with every head, accuracy is "
            f"{_pct(ablation['base_accuracy'])} %."
        )
        low, high = ablation.get("mean_contrast_ci") or (None, None)
        if ablation.get("mean_contrast") is not None and low is not None:
            text += (
                f" Contrast (drop on own labels minus on the others, mean "
                f"over heads) {_points(ablation['mean_contrast'])}, 95 % "
                f"interval over test images {_points(low)} to "
                f"{_points(high)}."
            )
        parts.append(text)
    return " ".join(parts)


LEGEND = """\
How to read this: each attention head is the group of its output nodes.
A node is an expert in a label when its single-nodal performance matrix
(METHOD.md section 2) keeps that label on its diagonal above theta. A
head's expert labels are those of its nodes.

- **nodes**: output nodes of the head.
- **expert labels**: the labels the head is an expert in.
- **alone**: test accuracy (%) with only this head's attention kept
  (the other heads of the encoder silenced); in brackets, on the head's
  own labels and on the other labels.
- **silenced**: change of test accuracy (points) when only this head is
  silenced, on its own labels / on the others; negative means the head
  helped.
- **symmetry breaking**: the heads are more specialised (lower entropy,
  less overlap) than two null models: one deals the same nodes to the
  heads at random; the other keeps each head whole and renames its
  labels at random, as if each head had picked its labels on its own."""


def _alone(only):
    if not only:
        return "–"
    own, other = only["mean_on_labels"], only["mean_on_others"]
    detail = [f"own {_pct(own)}" for _ in [0] if own is not None]
    detail += [f"others {_pct(other)}" for _ in [0] if other is not None]
    return (
        f"{_pct(only['accuracy'])} ({', '.join(detail)})"
        if detail
        else _pct(only["accuracy"])
    )


def _silenced(abl):
    if not abl:
        return "–"
    values = [abl["mean_drop_on_labels"], abl["mean_drop_on_others"]]
    return " / ".join(
        f"{0.0 - 100 * v:+.1f}" if v is not None else "–" for v in values
    )


def _chosen_on(report):
    if report.get("labels_chosen_on") == "validation":
        return (
            "Expert labels chosen on the validation split; accuracies "
            "and ablations on the test split."
        )
    return "Expert labels chosen on the test split, which also scores them."


def to_markdown(report):
    """The `heads.md` text of a `heads.json` dictionary."""
    lines = [
        "# Heads as label experts",
        "",
        f"theta {report['theta']}, {report['num_classes']} labels; null "
        f"model: {report['null_samples']} random deals of nodes to heads "
        f"(seed {report['seed']}). {_chosen_on(report)}",
        "",
        LEGEND,
    ]
    for enc in report["encoders"]:
        lines += [
            "",
            f"## Encoder {enc['encoder']} (`{enc['tap']}`)",
            "",
            "| head | nodes | expert labels | alone (%) | silenced (points) |",
            "| --- | --- | --- | --- | --- |",
        ]
        for h in enc["heads"]:
            names = ", ".join(h["label_names"]) or "(none)"
            names = f"{h['num_labels']}: {names}".replace("|", "\\|")
            lines.append(
                f"| {h['head']} | {h['num_nodes']} | {names} | "
                f"{_alone(h['head_only'])} | "
                f"{_silenced(h['ablation'])} |"
            )
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
    E = np.array(
        [[np.nan if v is None else v for v in h["expertise"]] for h in heads],
        dtype=float,
    )
    width = max(8.0, 0.15 * K + 2.5)
    row = max(1.6, 0.35 * H + 1.0)
    fig = Figure(figsize=(width, 2 * row + 2.2), dpi=140)
    FigureCanvasAgg(fig)
    axes = fig.subplots(2, 1, sharex=True)
    font = 6 if K > 40 else 8
    panels = [
        (diag, "normalised diagonal of V_h (dots: L_h)"),
        (E, "expertise E[h, c] = n_h(c) / sum_h' n_h'(c)"),
    ]
    for ax, (values, title) in zip(axes, panels):
        image = ax.imshow(
            np.ma.masked_invalid(values),
            aspect="auto",
            cmap="viridis",
            vmin=0,
            vmax=1,
            interpolation="nearest",
        )
        ax.set_title(f"encoder {encoder['encoder']}: {title}", fontsize=9)
        ax.set_yticks(range(H), [f"head {h}" for h in range(H)], fontsize=7)
        fig.colorbar(image, ax=ax, fraction=0.02, pad=0.01)
    for h, head in enumerate(heads):
        axes[0].scatter(
            head["labels"], [h] * len(head["labels"]), s=4, c="red", marker="o"
        )
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
    paths = {
        "json": os.path.join(out_dir, "heads.json"),
        "markdown": os.path.join(out_dir, "heads.md"),
        "png": [],
    }
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


def read_heads_report(path):
    """The `heads.json` at `path` (or in the folder `path`), validated: a
    dict with, per encoder, each head's expert `labels` and `label_names`.

    Example:
    ```python
    report = read_heads_report("saved_models/cifar100-cct_4_3x2/heads.json")
    for encoder in report["encoders"]:
        for head in encoder["heads"]:
            print(encoder["encoder"], head["head"], head["label_names"])
    ```
    """
    from keras_snp.utils import read_json

    if os.path.isdir(path):
        path = os.path.join(path, "heads.json")
    data = read_json(path)
    validate_heads_json(data)
    return data
