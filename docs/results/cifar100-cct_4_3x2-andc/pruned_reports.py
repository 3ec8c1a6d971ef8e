"""The SNP and head-expert reports of a run's pruned model, alone.

    python docs/results/cifar100-cct_4_3x2-andc/pruned_reports.py RUN_DIR

The last part of the pipeline's prune stage (`pruned/snp`, `pruned/heads`
and their TensorBoard runs `pruning/snp`, `pruning/heads`), with the run's
own settings, for a run whose prune stage was stopped after `pruned/` was
written (cifar100-andc2, step C of the report).
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, ROOT)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)

    from keras_snp.run import export as export_lib
    from keras_snp.run import fit as fit_lib
    from keras_snp.run import pipeline
    from keras_snp.run.prune_run import load_context

    ctx = load_context(args.run_dir)
    pruned_dir = os.path.join(args.run_dir, "pruned")
    pruned = export_lib.load_model(os.path.join(pruned_dir, "model.keras"))
    start = time.time()
    result = pipeline._measure_snp(
        ctx,
        pruned,
        os.path.join(pruned_dir, "snp"),
        fit_lib.log_dir(ctx.folder, "pruning", "snp"),
    )
    print(f"pruned/snp: {time.time() - start:.0f} s", flush=True)
    pipeline._measure_heads(
        ctx,
        pruned,
        result,
        os.path.join(pruned_dir, "heads"),
        fit_lib.log_dir(ctx.folder, "pruning", "heads"),
    )
    print(f"pruned/heads: {time.time() - start:.0f} s", flush=True)


if __name__ == "__main__":
    main()
