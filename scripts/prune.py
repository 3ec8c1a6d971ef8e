"""`keras-snp prune`: see `python scripts/prune.py --help`.

    python scripts/prune.py RUN_DIR                    # the pruning stage
    python scripts/prune.py RUN_DIR --sweep --thetas 0.1,0.3,0.5 \
        --fine-tune-epochs 1 --fine-tune-steps 50 --structured 0.25

Without the flags below this is `keras-snp prune`. With any of them the
stage runs with those settings (`keras_snp.run.prune_stage.prune_run`):
`--sweep` adds dilution-accuracy curves per scope (ANDC, random,
magnitude, same fine-tune) and the per-layer sensitivity table to
`RUN_DIR/pruned/pruning.json` and `RUN_DIR/pruned/sweep.png`.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from keras_snp.cli import command_main  # noqa: E402
from keras_snp.cli import guarded  # noqa: E402

OWN = (
    "--sweep",
    "--thetas",
    "--sweep-scopes",
    "--fine-tune-steps",
    "--structured",
)


def _floats(text):
    return tuple(float(t) for t in text.split(",") if t.strip())


def parser():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir")
    p.add_argument(
        "--scope",
        help="readout, ff, attn_proj, all, or a "
        "combination such as readout+ff (default: the run's)",
    )
    p.add_argument("--theta", type=float)
    p.add_argument(
        "--fine-tune-epochs",
        type=int,
        help="default: about a tenth of the training epochs, at least 1",
    )
    p.add_argument(
        "--fine-tune-steps",
        type=int,
        help="batches per fine-tune epoch (a reduced budget)",
    )
    p.add_argument(
        "--structured",
        type=float,
        metavar="FRACTION",
        help="ours: also cut this share of FF units and heads "
        "per encoder, weakest by SNP",
    )
    p.add_argument("--sweep", action="store_true")
    p.add_argument(
        "--thetas", type=_floats, default=(0.1, 0.2, 0.3, 0.4, 0.5, 0.7)
    )
    p.add_argument("--sweep-scopes", default="readout,ff,attn_proj")
    p.add_argument("--unsafe", action="store_true")
    p.add_argument(
        "--quiet", dest="verbose", action="store_const", const=0, default=1
    )
    return p


def main(argv):
    import logging

    from keras_snp.run.prune_run import prune_run

    args = parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(message)s",
    )
    summary = prune_run(
        args.run_dir,
        scope=args.scope,
        theta=args.theta,
        fine_tune_epochs=args.fine_tune_epochs,
        fine_tune_steps=args.fine_tune_steps,
        structured_fraction=args.structured,
        sweep=args.sweep,
        sweep_scopes=args.sweep_scopes.split(","),
        thetas=args.thetas,
        unsafe=args.unsafe,
        verbose=args.verbose,
    )
    for row in summary["accuracy_table"]:
        print(
            f"{row['name']:>22} {row['accuracy']:.4f}  "
            f"dilution {row['sparsity']:.3f}"
        )
    print(f"written to {os.path.join(args.run_dir, 'pruned')}")
    return 0


if __name__ == "__main__":
    argv = sys.argv[1:]
    if any(a.split("=")[0] in OWN for a in argv):
        sys.exit(guarded(main, argv))
    sys.exit(guarded(command_main("prune"), argv))
