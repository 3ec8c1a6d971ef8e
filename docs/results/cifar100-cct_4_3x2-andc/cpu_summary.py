"""The markdown tables of a `cpu_float32.py` series: sweep and structured.

    python docs/results/cifar100-cct_4_3x2-andc/cpu_summary.py OUT [--write F]

Every ANDC point is paired with the series' own `unpruned_fine_tuned`
(bootstrap over the same test images, as the report does:
`analysis.sweep_curves`), and with magnitude and random at the same point;
the structured rows come from `pruned/structured.json`.
"""

import argparse
import os
import sys

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from keras_snp.reproduce import analysis  # noqa: E402
from keras_snp.reproduce import pruning_report  # noqa: E402
from keras_snp.reproduce.markdown import ci  # noqa: E402
from keras_snp.reproduce.markdown import fmt  # noqa: E402
from keras_snp.utils import read_json  # noqa: E402


def sweep_lines(out):
    pruning = {
        **read_json(os.path.join(out, "pruning.json")),
        **read_json(os.path.join(out, "sweep.json")),
    }
    with np.load(os.path.join(out, "predictions.npz")) as stored:
        hits = {key: stored[key] for key in stored.files}
    with np.load(os.path.join(out, "sweep_predictions.npz")) as stored:
        sweep_hits = {key: stored[key] for key in stored.files}
    curves = analysis.sweep_curves(
        pruning, len(hits["unpruned"]), hits, sweep_hits
    )
    acc = pruning["accuracy"]
    c = {"sweep": curves, "table": [], "differences": []}
    lines = [
        f"unpruned {fmt(acc['unpruned'])}, unpruned_fine_tuned "
        f"{fmt(acc['unpruned_fine_tuned'])} (float32, "
        f"{pruning['fine_tune']['seconds']:.0f} s fine-tune)",
        "",
        *pruning_report._scope_rows(c)[:2],
    ]
    rows = sorted(
        pruning_report._scope_rows(c)[2:],
        key=lambda line: line.split("|")[1:3],
    )
    lines += rows + [""] + pruning_report._holds(c)
    random_lines = [
        f"- {r['scope']} theta {r['theta']}: ANDC - random "
        f"{pruning_report._against(r['controls'].get('random'))}"
        for r in curves["rows"]
        if r["method"] == "andc" and "random" in (r.get("controls") or {})
    ]
    return lines + ([""] + random_lines if random_lines else [])


def structured_lines(out):
    path = os.path.join(out, "structured.json")
    if not os.path.isfile(path):
        return []
    s = read_json(path)
    bench = s.get("bench", {})
    base = bench.get("unpruned", {})
    lines = [
        "| structured fraction | accuracy | - unpruned_fine_tuned (95% CI) | "
        "params | FLOPs | img/s (CPU) | speed ratio | max abs diff "
        "masked vs shrunk |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        f"| 0 (unpruned) | {fmt(s.get('unpruned_fine_tuned'))} (fine-tuned) "
        f"| - | {base.get('params', 'n/a')} | {base.get('flops', 'n/a')} | "
        f"{fmt(base.get('images_per_s'), 1)} | 1.000 | - |",
    ]
    for key, r in sorted(s["rows"].items(), key=lambda kv: float(kv[0])):
        d = r["minus_unpruned_fine_tuned"]
        b = bench.get(f"structured_{key}", {})
        lines.append(
            f"| {key} | {fmt(r['accuracy'])} | {fmt(d['difference'])} "
            f"{ci(d['low'], d['high'])} | {r['params_after']} | "
            f"{r['flops_after']} | {fmt(b.get('images_per_s'), 1)} | "
            f"{fmt(b.get('speed_ratio'), 3)} | "
            f"{r['max_abs_difference_masked_vs_shrunk']:.2e} |"
        )
    return lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--write", help="also write the tables to this file")
    args = parser.parse_args(argv)
    out = os.path.join(args.run_dir, "pruned")
    text = "\n".join(sweep_lines(out) + [""] + structured_lines(out)) + "\n"
    print(text)
    if args.write:
        with open(args.write, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
