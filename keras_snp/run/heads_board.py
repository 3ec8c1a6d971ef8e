"""`log_heads`: a written head label-expert report on TensorBoard."""

from keras_snp.heads.report import TB_SCALARS
from keras_snp.heads.report import encoder_stem
from keras_snp.run import tensorboard

TITLES = {
    "coverage": "coverage",
    "mean_jaccard": "overlap (Jaccard)",
    "mean_entropy": "expertise entropy",
    "mean_labels_per_head": "labels per head",
    "mean_heads_per_label": "heads per label",
}


def heads_table(data):
    """Per-encoder metrics as an escaped markdown table."""
    rows = []
    for enc in data["encoders"]:
        m = enc["metrics"]
        ablation = (enc["ablation"] or {}).get("mean_contrast")
        rows.append(
            [
                enc["encoder"],
                enc["num_heads"],
                *(_fmt(m[k]) for k in TB_SCALARS),
                "yes" if enc["symmetry_breaking"] else "no",
                _fmt(ablation),
            ]
        )
    return tensorboard.markdown_table(
        [
            "encoder",
            "heads",
            *(TITLES[k] for k in TB_SCALARS),
            "symmetry breaking",
            "ablation contrast",
        ],
        rows,
    )


def _fmt(value):
    return "–" if value is None else f"{value:.3f}"


def log_heads(report, paths, log_dir):
    """Writes the markdown report, a table and a depth figure of the
    per-encoder metrics, and the per-encoder heat maps.

    A report is one measurement: tables and pictures, no scalars (which
    would draw one-point charts, with the encoder as the step). Pictures
    are tagged `heads/...`, after the training curves in Time Series.

    Args:
        report: the `HeadsReport` (or its `to_dict()`) that was written.
        paths: what `write_heads_report` returned (markdown and PNG paths).
        log_dir: TensorBoard folder, e.g. `<run>/logs/heads`.
    """
    data = report.to_dict() if hasattr(report, "to_dict") else report
    with open(paths["markdown"], encoding="utf-8") as f:
        tensorboard.write_text(log_dir, "heads_report", f.read())
    tensorboard.write_text(log_dir, "heads_by_encoder", heads_table(data))
    for enc, png in zip(data["encoders"], paths["png"]):
        tensorboard.write_image(log_dir, "heads/" + encoder_stem(enc), png)
    encoders = [e for e in data["encoders"] if e["encoder"] is not None]
    if len(encoders) > 1:
        series = {
            TITLES[k]: [(e["encoder"], e["metrics"][k]) for e in encoders]
            for k in ("coverage", "mean_jaccard", "mean_entropy")
        }
        tensorboard.write_figure(
            log_dir,
            "heads/by_depth",
            tensorboard.encoder_figure(
                series, "head experts by depth", "value (0..1)"
            ),
        )
