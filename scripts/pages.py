"""`keras-snp pages`: see `python scripts/pages.py --help`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_snp_entry  # noqa: E402

if __name__ == "__main__":
    sys.exit(keras_snp_entry.command("pages"))
