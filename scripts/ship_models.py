"""Copies a finished run's trained and pruned models, with what they were
measured to be, into `saved_models/<name>/`, ready to commit.

    python scripts/ship_models.py RUN_DIR NAME [--into saved_models]

Writes, atomically (a temporary folder renamed into place):
`model.keras`, `pruned/model.keras`, `heads.json` and `heads.md` (the
label-expert report of the trained model), `snp_summary.json`,
`pruning.json` and `ABOUT.md` (dataset, model, recipe, epochs, test
accuracies, the run's settings). Both models load with
`keras.models.load_model` after `import keras_snp`; the README's first
example does so.
"""

import argparse
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_snp.utils import UsageError  # noqa: E402
from keras_snp.utils import atomic_path  # noqa: E402
from keras_snp.utils import read_json  # noqa: E402

FILES = {
    "model.keras": "model.keras",
    "pruned/model.keras": os.path.join("pruned", "model.keras"),
    "heads.json": os.path.join("heads", "heads.json"),
    "heads.md": os.path.join("heads", "heads.md"),
    "snp_summary.json": os.path.join("snp", "summary.json"),
    "pruning.json": os.path.join("pruned", "pruning.json"),
}


def about(run_dir, state):
    config = state["config"]
    train = state["stages"]["train"]
    pruning = read_json(os.path.join(run_dir, "pruned", "pruning.json"))
    lines = [
        f"# {os.path.basename(os.path.normpath(run_dir))}",
        "",
        f"- dataset: `{config['dataset']}` (labels "
        f"`{config.get('label_names')}`), {config['image_size']} px",
        f"- model: `{config['variant']}`, recipe `{config['recipe']}`, "
        f"{config['epochs']} epochs, seed {config['seed']}",
        f"- test accuracy: {train['test_accuracy']:.4f} "
        f"(top-5 {train['test_top5_accuracy']:.4f})",
        f"- readouts: `{config['readout']}`, solver "
        f"`{config['readout_solver']}`; theta {config['theta']}",
    ]
    lines += [
        f"- pruned (ANDC, scope `{pruning['scope']}`, masks from "
        f"{pruning['masks_from']}): {pruning['kept_connections']:,} of "
        f"{pruning['prunable_connections']:,} connections kept",
        "",
        "| row | test accuracy | sparsity |",
        "| --- | --- | --- |",
    ]
    for row in pruning["accuracy_table"]:
        lines.append(
            f"| {row['name']} | {row['accuracy']:.4f} | {row['sparsity']:.3f} |"
        )
    lines += [
        "",
        "Made by `python scripts/train.py` with the settings in "
        "`run.json` of the run (`config`); copied here by "
        "`python scripts/ship_models.py`.",
        "",
    ]
    return "\n".join(lines)


def ship(run_dir, name, into="saved_models"):
    missing = [
        rel
        for rel in FILES.values()
        if not os.path.isfile(os.path.join(run_dir, rel))
    ]
    if missing:
        raise UsageError(
            f"{run_dir} lacks {', '.join(missing)}: run its snp, heads and "
            "prune stages first (scripts/train.py --resume)."
        )
    state = read_json(os.path.join(run_dir, "run.json"))
    target = os.path.join(into, name)
    with atomic_path(target) as tmp:
        os.makedirs(os.path.join(tmp, "pruned"))
        for out, rel in FILES.items():
            shutil.copyfile(os.path.join(run_dir, rel), os.path.join(tmp, out))
        with open(os.path.join(tmp, "ABOUT.md"), "w", encoding="utf-8") as f:
            f.write(about(run_dir, state))
    return target


def git_ignored(path):
    """True when `path` lies in a git checkout that ignores it."""
    try:
        done = subprocess.run(
            ["git", "check-ignore", "-q", os.path.abspath(path)],
            cwd=os.path.dirname(os.path.abspath(path)),
            capture_output=True,
        )
    except OSError:
        return False
    return done.returncode == 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("name")
    parser.add_argument("--into", default="saved_models")
    args = parser.parse_args(argv)
    try:
        target = ship(args.run_dir, args.name, args.into)
        print(target)
        if git_ignored(os.path.join(target, "ABOUT.md")):
            print(
                f"warning: git ignores {target}: add "
                f"'!{os.path.relpath(target)}/' to .gitignore before "
                "committing it",
                file=sys.stderr,
            )
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
