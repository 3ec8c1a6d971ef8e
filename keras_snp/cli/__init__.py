"""Command line: `keras-snp train|analyze|prune|reproduce` (and
`scripts/*.py`), one module per command.

Every flag maps to a `RunConfig` field. Bad input ends with one line on
stderr and exit status 2. Commands are imported only when run, so help
and usage errors do not wait for TensorFlow.
"""

import importlib
import sys

from keras_snp.cli.common import guarded

COMMANDS = {
    "train": "train a CCT, then SNP, head reports, ANDC pruning, export",
    "analyze": "SNP and head label-expert reports of a saved .keras model",
    "prune": "ANDC pruning (with controls) of a finished run folder",
    "reproduce": "the whole pipeline, then REPORT.md on the paper's claims",
}

__all__ = ["COMMANDS", "command_main", "guarded", "main"]


def usage():
    lines = ["usage: keras-snp COMMAND [flags]   (keras-snp COMMAND --help)",
             "", "commands:"]
    lines += [f"  {name:<10} {text}" for name, text in COMMANDS.items()]
    return "\n".join(lines)


def command_main(name):
    """The `main(argv)` function of the command `name`."""
    module = importlib.import_module(f"keras_snp.cli.{name}")
    return getattr(module, f"{name}_main")


def main(argv=None):
    """`keras-snp COMMAND ...`; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(f"error: unknown command {argv[0]!r}: use one of "
              f"{', '.join(COMMANDS)} (keras-snp --help)", file=sys.stderr)
        return 2
    return guarded(command_main(argv[0]), argv[1:])
