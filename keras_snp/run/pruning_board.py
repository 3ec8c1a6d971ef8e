"""`log_pruning`: a pruning summary on TensorBoard, as a person reads it.

The accuracy rows (unpruned, ANDC, the controls) are one measurement: a
grouped-bar image and an escaped markdown table, not step-0 scalars.
"""

from keras_snp.run import tensorboard

__all__ = ["accuracy_figure", "accuracy_table", "log_pruning"]


def _rows(summary):
    table = summary.get("accuracy_table")
    if table:
        return table
    return [
        {"name": name, "accuracy": value}
        for name, value in summary.get("accuracy", {}).items()
    ]


def accuracy_table(summary):
    """The accuracy rows as a markdown table (`|w|` and such escaped)."""
    rows = []
    for row in _rows(summary):
        sparsity = row.get("sparsity")
        rows.append(
            [
                row["name"],
                f"{row['accuracy']:.4f}",
                "–" if sparsity is None else f"{sparsity:.1%}",
                row.get("description", ""),
            ]
        )
    text = tensorboard.markdown_table(
        ["model", "test accuracy", "connections removed", "what"], rows
    )
    params = summary.get("params") or {}
    if params.get("before") and params.get("after"):
        text += (
            f"\n\nParameters: {params['before']:,} before, "
            f"{params['after']:,} after shrinking."
        )
    return text


def accuracy_figure(summary):
    """Grouped bars: before / after fine-tuning for each mask family."""
    plt = tensorboard.pyplot()
    rows = {r["name"]: r["accuracy"] for r in _rows(summary)}
    if plt is None or not rows:
        return None
    groups = {}
    for name, value in rows.items():
        family, tuned = (
            (name[: -len("_fine_tuned")], "after fine-tuning")
            if name.endswith("_fine_tuned")
            else (name.replace("_masked", ""), "before fine-tuning")
        )
        groups.setdefault(family, {})[tuned] = value
    families = list(groups)
    kinds = ("before fine-tuning", "after fine-tuning")
    fig, ax = plt.subplots(figsize=(7.5, 3.8), dpi=100)
    width = 0.38
    for i, kind in enumerate(kinds):
        xs = [
            f + (i - 0.5) * width
            for f in range(len(families))
            if kind in groups[families[f]]
        ]
        ys = [groups[f][kind] for f in families if kind in groups[f]]
        bars = ax.bar(xs, ys, width, label=kind)
        ax.bar_label(bars, fmt="%.3f", fontsize=7)
    ax.set_xticks(range(len(families)), families)
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, min(1.0, max(rows.values()) * 1.15 + 0.02))
    ax.set_title(
        f"ANDC pruning (scope {summary.get('scope', '?')}) and its controls"
    )
    ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1, 1))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def log_pruning(summary, log_dir):
    """Writes a pruning summary (`pruning.json`'s dictionary) under
    `log_dir`: `pruning/accuracy` (grouped bars; the tag sorts after the
    training curves in Time Series) and `accuracy_table` (markdown).

    Example:
    ```python
    log_pruning(read_json("run/pruned/pruning.json"), "run/logs/pruning")
    ```
    """
    tensorboard.write_text(log_dir, "accuracy_table", accuracy_table(summary))
    tensorboard.write_figure(
        log_dir, "pruning/accuracy", accuracy_figure(summary)
    )
