"""Train a CCT and read it node by node: train -> SNP -> heads -> prune.

    python scripts/train.py --dataset flowers102
    python scripts/train.py --dataset synthetic --variant cct_2_3x2 --epochs 2

`--help` lists every flag. Bad input: one line on stderr, exit status 2.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_snp_entry  # noqa: E402

if __name__ == "__main__":
    sys.exit(keras_snp_entry.command("train"))
