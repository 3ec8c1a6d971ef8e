"""`keras-snp prune`: see `python scripts/prune.py --help`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_snp.cli import command_main  # noqa: E402
from keras_snp.cli import guarded  # noqa: E402

if __name__ == "__main__":
    sys.exit(guarded(command_main("prune"), sys.argv[1:]))
