"""Renders `docs/results/any-model.md` from the `result.json` of each model
that `run.py` measured (the prose around the tables is written by hand in
`intro.md` beside this script).

    python docs/results/any-model/summarise.py docs/results/any-model
"""

import json
import os
import sys

MODELS = {"vgg16": "VGG16 (`weights=None`)", "vit": "keras-hub ViT"}


def table(header, rows):
    lines = ["| " + " | ".join(header) + " |"]
    lines.append("| " + " | ".join("---" for _ in header) + " |")
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def fmt(value, spec):
    return "-" if value is None else format(value, spec)


def training(result):
    history = result["history"]
    minutes = result["timings_s"]
    return table(
        [
            "model",
            "parameters",
            "train / val / test images",
            "epochs",
            "train acc. (last)",
            "val acc. (last)",
            "test acc.",
            "minutes: train / analyze / pruning SNP / compare",
        ],
        [
            [
                MODELS[result["model"]],
                f"{result['params']:,}",
                f"{result['train_images']:,} / "
                f"{result['validation_images']:,} / "
                f"{result['test_images']:,}",
                result["epochs"],
                fmt(history["accuracy"][-1], ".4f"),
                fmt(history["val_accuracy"][-1], ".4f"),
                fmt(result["test_accuracy"], ".4f"),
                " / ".join(
                    f"{minutes[k] / 60:.1f}"
                    for k in (
                        "train_s",
                        "analyze_s",
                        "pruning_snp_s",
                        "compare_s",
                    )
                ),
            ]
        ],
    )


def sites(result):
    rows = []
    for name, row in result["sites"].items():
        conv = result["convergence"].get(name) or {}
        rows.append(
            [
                name,
                row["kind"],
                row.get("encoder", "-"),
                row["nodes"],
                fmt(row["readout_accuracy"], ".4f"),
                fmt(row["mean_diag"], ".2f"),
                fmt(row["mean_clusters"], ".2f"),
                fmt(row["mean_noise"], ".1f"),
                fmt(row["snr"], ".3f"),
                fmt(row["empty_fraction"], ".3f"),
                {True: "yes", False: "**no**"}.get(conv.get("converged"), "-"),
                conv.get("passes", "-"),
            ]
        )
    return table(
        [
            "site",
            "kind",
            "block",
            "nodes",
            "readout acc.",
            "mean_diag",
            "clusters",
            "mean_noise",
            "snr",
            "empty",
            "converged",
            "passes",
        ],
        rows,
    )


def heads(result):
    report = result["heads"]
    if report is None:
        return None
    rows, summary = [], []
    for encoder in report["encoders"]:
        null = encoder["null"]
        summary.append(
            [
                encoder["tap"],
                encoder["num_heads"],
                fmt(encoder["metrics"]["mean_labels_per_head"], ".2f"),
                fmt(encoder["metrics"]["coverage"], ".2f"),
                f"{null['mean_jaccard']['observed']:.3f} vs "
                f"{null['mean_jaccard']['null_mean']:.3f} "
                f"(p {null['mean_jaccard']['p']:.3f})",
                fmt(encoder["ablation"]["mean_contrast"], "+.4f"),
            ]
        )
        for head in encoder["heads"]:
            names = head["label_names"]
            shown = ", ".join(names[:6]) + (" ..." if len(names) > 6 else "")
            ablation = head.get("ablation") or {}
            rows.append(
                [
                    encoder["tap"],
                    head["head"],
                    head["num_labels"],
                    shown or "-",
                    fmt(ablation.get("mean_drop_on_labels"), "+.4f"),
                    fmt(ablation.get("mean_drop_on_others"), "+.4f"),
                ]
            )
    return (
        table(
            [
                "site",
                "heads",
                "labels per head",
                "coverage",
                "mean Jaccard vs null",
                "ablation contrast",
            ],
            summary,
        )
        + "\n\n"
        + table(
            [
                "site",
                "head",
                "labels",
                "expert in",
                "acc. drop on its labels",
                "on the others",
            ],
            rows,
        )
    )


def pruning(result):
    p = result["pruning"]
    rows = [["unpruned", "0 %", fmt(p["unpruned"], ".4f")]]
    if p["unpruned_fine_tuned"] is not None:
        rows.append(
            [
                f"unpruned, fine-tuned {p['fine_tune_epochs']} epoch(s)",
                "0 %",
                fmt(p["unpruned_fine_tuned"], ".4f"),
            ]
        )
    for method, acc in p["methods"].items():
        rows.append(
            [
                f"{method}, fine-tuned {p['fine_tune_epochs']} epoch(s)",
                f"{p['dilution']:.1%}",
                fmt(acc, ".4f"),
            ]
        )
    return table(["model", "connections removed", "test accuracy"], rows)


def main(folder):
    with open(os.path.join(folder, "intro.md")) as f:
        parts = [f.read().rstrip()]
    for model in MODELS:
        path = os.path.join(folder, model, "result.json")
        if not os.path.exists(path):
            continue
        with open(path) as f:
            result = json.load(f)
        parts += [
            f"## {MODELS[model]}",
            training(result),
            f"### SNP by depth ({result['readout']['readout']} readouts, "
            f"{result['readout']['views']} views)",
            sites(result),
        ]
        head_tables = heads(result)
        if head_tables:
            parts += ["### Head experts", head_tables]
        parts += [
            f"### ANDC against its controls ({result['pruned_layers']} "
            "pruned layers)",
            pruning(result),
        ]
    out = os.path.join(os.path.dirname(os.path.abspath(folder)), "any-model.md")
    with open(out, "w") as f:
        f.write("\n\n".join(parts) + "\n")
    print(out)


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(__file__))
