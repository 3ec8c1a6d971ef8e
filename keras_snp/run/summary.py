"""The closing summary of a run: its numbers and where every file is.

Read from the run folder alone (`run.json`, `snp/summary.json`,
`pruned/pruning.json`), so it prints the same after `train`, `prune`,
`reproduce` or for any finished run: `summary_text(run_dir)`. Plain
Python: no TensorFlow.
"""

import math
import os
import shlex

from keras_snp.utils import read_json

# (relative path, what it is), in the order a person looks for them.
ARTEFACTS = (
    ("model.keras", "the trained model (Keras)"),
    ("saved_model", "the same model, TF SavedModel"),
    ("snp/summary.json", "SNP statistics per tap"),
    ("heads/heads.md", "the label-expert report, for people"),
    ("pruned/model.keras", "the ANDC-pruned, smaller model (Keras)"),
    ("pruned/saved_model", "the pruned model, TF SavedModel"),
    ("pruned/pruning.json", "pruning: accuracy with controls, sizes"),
    ("REPORT.md", "the reproduction report"),
    ("run.json", "settings, dataset and every stage's metrics"),
)


def _read(path):
    try:
        return read_json(path)
    except (OSError, ValueError):
        return None


def _number(value, digits=4):
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return f"{value:.{digits}f}"


def _by_encoder(taps, key):
    """`{kind: {encoder: value}}` of a `snp/summary.json` tap table."""
    table = {}
    for tap in taps.values():
        if tap.get("encoder") is None:
            continue
        table.setdefault(tap["kind"], {})[tap["encoder"]] = tap.get(key)
    return table


def _depth_lines(taps):
    encoders = sorted(
        {t["encoder"] for t in taps.values() if t.get("encoder") is not None}
    )
    if not encoders:
        return []
    head = "  " + " " * 26 + "".join(f"{f'enc {e}':>8}" for e in encoders)
    lines = ["SNP by depth (test split):", head]
    for key, label, digits in (
        ("readout_accuracy", "readout accuracy", 3),
        ("mean_diag", "labels per node", 2),
    ):
        for kind, values in sorted(_by_encoder(taps, key).items()):
            cells = "".join(
                f"{_number(values.get(e), digits):>8}" for e in encoders
            )
            lines.append(f"  {label + ' (' + kind + ')':<26}{cells}")
    return lines


def _heads_line(heads):
    encoders = (heads or {}).get("encoders") or {}
    if not encoders:
        return []
    parts = []
    for encoder, values in sorted(encoders.items(), key=lambda i: int(i[0])):
        word = "yes" if values.get("symmetry_breaking") else "no"
        parts.append(f"encoder {encoder}: {word}")
    return [
        "head symmetry breaking (beats the null model): " + ", ".join(parts)
    ]


def _pruning_lines(pruning):
    if not pruning or "accuracy" not in pruning:
        return []
    acc = pruning["accuracy"]
    lines = ["ANDC pruning (test accuracy):"]
    order = [row["name"] for row in pruning.get("accuracy_table", [])]
    order += [name for name in acc if name not in order]
    for name in order:
        lines.append(f"  {name:<26}{_number(acc.get(name)):>8}")
    params = pruning.get("params") or {}
    if params.get("before") and params.get("after"):
        share = 1 - params["after"] / params["before"]
        lines.append(
            f"  parameters {params['before']:,} -> "
            f"{params['after']:,} ({share:.0%} fewer)"
        )
    return lines


def convergence_lines(taps):
    """One line on the readouts' convergence, and one naming every tap
    whose readout did not converge."""
    records = {name: s.get("convergence") or {} for name, s in taps.items()}
    measured = {
        n: c for n, c in records.items() if c.get("converged") is not None
    }
    if not measured:
        solvers = {c.get("solver") for c in records.values()} - {None}
        what = "the lab's SGD" if solvers == {"lab"} else "an older engine"
        return [f"SNP readouts: trained by {what}, convergence not measured"]
    failed = [n for n, c in measured.items() if not c["converged"]]
    if all(c.get("solver") == "stream" for c in measured.values()):
        views = [c["views"] for c in measured.values()]
        worst = max(c["held_out_change"] for c in measured.values())
        how = (
            f"{min(views)}-{max(views)} fresh views, largest held-out "
            f"change {worst:.1e}"
        )
    else:
        passes = [c["passes"] for c in measured.values()]
        worst = max(c["relative_grad_norm"] for c in measured.values())
        how = (
            f"{min(passes)}-{max(passes)} passes, largest relative "
            f"gradient {worst:.1e}"
        )
    lines = [
        f"SNP readouts: {len(measured) - len(failed)} of {len(measured)} "
        f"converged ({how})"
    ]
    if failed:
        lines.append(
            "  NOT converged (statistics are not the optimum's): "
            + ", ".join(failed)
        )
    return lines


def summary_text(run_dir):
    """The closing summary of the run folder `run_dir`, as text."""
    from keras_snp.run.folder import first_unverified
    from keras_snp.run.folder import stage_of

    run_dir = os.path.normpath(run_dir)
    state = _read(os.path.join(run_dir, "run.json")) or {}
    stages = state.get("stages", {})
    lines = [
        f"== {state.get('run_name') or os.path.basename(run_dir)}: summary =="
    ]
    if state.get("not_learned"):
        lines.append(
            "WARNING: analysed anyway, although the model did not learn: "
            + state["not_learned"]
        )
    broken = {}
    for stage in stages:
        bad = first_unverified(run_dir, state, stage)
        if bad is not None:
            broken[stage] = bad
            lines.append(
                f"WARNING: {bad} does not match what the {stage} stage "
                "wrote: its outputs are not listed (--resume runs it again)"
            )
    train = stages.get("train") or {}
    if "test_accuracy" in train:
        lines.append(f"test accuracy {_number(train['test_accuracy'])}")
    snp = (
        None
        if "snp" in broken
        else _read(os.path.join(run_dir, "snp", "summary.json"))
    )
    if snp:
        lines += _depth_lines(snp.get("taps", {}))
        lines += convergence_lines(snp.get("taps", {}))
    lines += _heads_line(stages.get("heads"))
    if "prune" not in broken:
        lines += _pruning_lines(
            _read(os.path.join(run_dir, "pruned", "pruning.json"))
        )
    lines.append("files:")
    for rel, what in ARTEFACTS:
        path = os.path.join(run_dir, rel)
        if stage_of(rel) in broken:
            continue
        if os.path.exists(path):
            shown = path + ("/" if os.path.isdir(path) else "")
            lines.append(f"  {shown:<40} {what}")
    logs = os.path.join(run_dir, "logs")
    if os.path.isdir(logs):
        lines.append(f"TensorBoard: tensorboard --logdir {shlex.quote(logs)}")
    return "\n".join(lines)


def print_summary(run_dir, file=None):
    """Prints `summary_text(run_dir)` (stdout by default), on a new line."""
    import sys

    out = file or sys.stdout
    print("\n" + summary_text(run_dir), file=out, flush=True)
