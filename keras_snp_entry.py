"""The command line's entry: `keras-snp` and `scripts/*.py` start here.

`import keras_snp` registers the package's Keras serializables, which
imports Keras (and, on its default backend, TensorFlow): seconds. The
command line must answer `--help` and bad flags at once, so this module,
which lives outside the package, imports `keras_snp.cli` with
`KERAS_SNP_DEFER_REGISTRATION=1` (then restores the environment, so no
child process inherits it). Once a command's flags have been checked,
`keras_snp.cli.common.start` registers the serializables, and the run sees
the package exactly as `import keras_snp` gives it to a library user.

Example:
```python
import sys

import keras_snp_entry

sys.exit(keras_snp_entry.command("train", ["--help"]))
```
"""

import os
import sys

_DEFER = "KERAS_SNP_DEFER_REGISTRATION"  # keras_snp.DEFER_REGISTRATION


def _cli():
    """`keras_snp.cli`, imported with the registration deferred."""
    previous = os.environ.get(_DEFER)
    os.environ[_DEFER] = "1"
    try:
        from keras_snp import cli
    finally:
        if previous is None:
            del os.environ[_DEFER]
        else:
            os.environ[_DEFER] = previous
    return cli


def main(argv=None):
    """`keras-snp COMMAND ...` (the console script); returns the exit
    status."""
    return _cli().main(argv)


def command(name, argv=None):
    """`scripts/NAME.py ...`: the command `name` on `argv` (default
    `sys.argv[1:]`); returns the exit status."""
    cli = _cli()
    argv = sys.argv[1:] if argv is None else argv
    return cli.guarded(cli.command_main(name), argv)
