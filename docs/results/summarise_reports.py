"""The opening tables of `docs/results/README.md`, one per dataset,
computed from the committed evidence of each report (no model, no data):

    python docs/results/summarise_reports.py > /tmp/tables.md

Each row is what the report's own verdict rests on, recomputed with
`keras_snp.reproduce.analysis.analyze_run` on `<report>/evidence`.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
sys.path.insert(0, ROOT)

from keras_snp.reproduce import analysis  # noqa: E402
from keras_snp.reproduce.claims_table import claim_rows  # noqa: E402
from keras_snp.reproduce.markdown import fmt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))

#: (dataset title, official figure, reports): the reports that have
#: evidence, newest engine first.
DATASETS = (
    (
        "CIFAR-100",
        "official CCT-7/3x1, 32 px: 80.92 % (300 epochs), 82.72 % (1500)",
        ("cifar100-cct_4_3x2-converged",),
    ),
    (
        "Flowers-102",
        "official CCT-7/7x2, 224 px, 300 epochs: 97.19 %",
        ("flowers102-cct_4_3x2_h4",),
    ),
)


def model_row(name, a):
    config = a["config"]
    train = config.get("examples_per_class")
    data = f"{train} per class" if train else "all"
    return (
        f"| [{name}]({name}.md) | `{config['variant']}`, "
        f"{config['image_size']} px | {a['epochs_trained']} | "
        f"`{config['recipe']}` | {data} | {fmt(a['test_accuracy'])} |"
    )


def main():
    out = []
    for title, official, reports in DATASETS:
        out += [
            f"### {title}",
            "",
            f"Beside: {official}.",
            "",
            "| report | model | epochs | recipe | training images | "
            "test accuracy |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        analysed = []
        for name in reports:
            evidence = os.path.join(HERE, name, "evidence")
            if not os.path.isdir(evidence):
                continue
            a = analysis.analyze_run(evidence)
            analysed.append((name, a))
            out.append(model_row(name, a))
        for name, a in analysed:
            out += [
                "",
                f"`{name}`:",
                "",
                "| claim | statistic | value (95% CI) | verdict | "
                "untrained control |",
                "| --- | --- | --- | --- | --- |",
                *("| " + " | ".join(row) + " |" for row in claim_rows(a)),
            ]
        out.append("")
    print("\n".join(out))


if __name__ == "__main__":
    main()
