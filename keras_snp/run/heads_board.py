"""`log_heads`: a written head label-expert report on TensorBoard."""

from keras_snp.heads.report import TB_SCALARS
from keras_snp.heads.report import encoder_stem
from keras_snp.run import tensorboard


def log_heads(report, paths, log_dir):
    """Writes the markdown, the per-encoder heat maps and scalars.

    Args:
        report: the `HeadsReport` (or its `to_dict()`) that was written.
        paths: what `write_heads_report` returned (markdown and PNG paths).
        log_dir: TensorBoard folder, e.g. `<run>/logs/heads`.
    """
    data = report.to_dict() if hasattr(report, "to_dict") else report
    with open(paths["markdown"], encoding="utf-8") as f:
        tensorboard.write_text(log_dir, "heads_report", f.read())
    for enc, png in zip(data["encoders"], paths["png"]):
        tensorboard.write_image(log_dir, encoder_stem(enc), png)
        scalars = {k: enc["metrics"][k] for k in TB_SCALARS}
        for key in ("mean_entropy", "mean_jaccard"):
            if key in enc["null"]:
                scalars[key + "_z"] = enc["null"][key]["z"]
        if enc["ablation"]:
            scalars["ablation_contrast"] = enc["ablation"]["mean_contrast"]
        tensorboard.write_scalars(log_dir, scalars, step=enc["encoder"] or 0)
