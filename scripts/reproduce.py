"""Test the paper's four claims with numbers: pipeline, then REPORT.md.

    python scripts/reproduce.py --dataset ../shared/data/cifar100/cifar100.npz \
        --output-dir /work/results_runs --run-name cifar100-cct_2_3x2
    python scripts/reproduce.py --dataset synthetic --model cnn --epochs 2

`--help` lists every flag. Bad input: one line on stderr, exit status 2.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras_snp_entry  # noqa: E402

if __name__ == "__main__":
    sys.exit(keras_snp_entry.command("reproduce"))
