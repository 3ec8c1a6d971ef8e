"""Command line: `keras-snp train|analyze|prune|reproduce|pages` (and
`scripts/*.py`), one module per command.

Every flag maps to a `RunConfig` field. Bad input ends with one line on
stderr and exit status 2. Flags, files and the run folder are checked
before TensorFlow is imported, so `--help` and usage errors answer at
once.
"""

import importlib
import sys

from keras_snp.cli import common
from keras_snp.cli.common import guarded

COMMANDS = {
    "train": "train a CCT, then SNP, head reports, ANDC pruning, export",
    "analyze": "SNP and head label-expert reports of a saved .keras model",
    "prune": "ANDC pruning (with controls) of a finished run folder",
    "reproduce": "the whole pipeline, then REPORT.md on the paper's claims",
    "pages": "browsable pages of what each node, head and encoder learned",
}

__all__ = ["COMMANDS", "command_main", "guarded", "main", "usage"]


def usage():
    """The text of `keras-snp --help`."""
    lines = [
        "usage: keras-snp COMMAND [flags]",
        "",
        "Train Compact Convolutional Transformers and read them node by node.",
        "",
        "commands:",
    ]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
    lines += [
        "",
        "keras-snp COMMAND --help lists the flags of a command.",
        "A first run (about a minute on a laptop):",
        "  keras-snp train --dataset synthetic --variant cct_2_3x2 "
        "--epochs 1 --limit 20",
    ]
    return "\n".join(lines)


def command_main(name):
    """The `main(argv)` function of the command `name`."""
    module = importlib.import_module(f"keras_snp.cli.{name}")
    return getattr(module, f"{name}_main")


def main(argv=None):
    """`keras-snp COMMAND ...`; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        if len(argv) > 1 and argv[0] == "help" and argv[1] in COMMANDS:
            argv = [argv[1], "--help"]
        else:
            print(usage())
            return 0 if argv else 2
    if argv[0] == "--version":
        from keras_snp import __version__

        print(f"keras-snp {__version__}")
        return 0
    if argv[0] not in COMMANDS:
        print(
            f"error: unknown command {argv[0]!r}: use one of "
            f"{', '.join(COMMANDS)} (keras-snp --help)",
            file=sys.stderr,
        )
        return 2
    common.PROGRAM = "keras-snp"
    return guarded(command_main(argv[0]), argv[1:])
