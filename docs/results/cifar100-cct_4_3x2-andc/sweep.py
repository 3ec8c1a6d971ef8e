"""The dilution-accuracy sweep of a pruned run, keeping per-image hits.

    python docs/results/cifar100-cct_4_3x2-andc/sweep.py RUN_DIR \
        --scopes readout all --thetas 0.2 0.4 [--sensitivity]

`keras_snp.run.prune_stage.run_sweep` point by point (the run's
validation SNP from `pruned/snp_validation`, the fine-tune of
`settings_from_config`, identical to the prune stage's), but it also
stores every point's per-image test correctness in
`pruned/sweep_predictions.npz` (keys `scope|theta|method`), so the report
can pair each point with `unpruned_fine_tuned` over the same test images.
`pruned/pruning.json` (`sweep`, `sensitivity`) and `pruned/sweep.png`
are rewritten after every point, so a cut-short sweep leaves what it did.
"""

import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--scopes", nargs="+", default=["readout", "all"])
    parser.add_argument("--thetas", type=float, nargs="+",
                        default=[0.2, 0.4])
    parser.add_argument("--methods", nargs="+",
                        default=["andc", "random", "magnitude"])
    parser.add_argument("--sensitivity", action="store_true",
                        help="also the per-layer sensitivity table (one "
                        "test pass per masked layer)")
    args = parser.parse_args(argv)

    from keras_snp.pruning import sweep as sweep_lib
    from keras_snp.pruning.andc import connection_masks
    from keras_snp.pruning.andc import dilution
    from keras_snp.pruning.andc import prune
    from keras_snp.pruning.fine_tune import fine_tune
    from keras_snp.run.prune_run import load_context
    from keras_snp.run.prune_stage import correctness
    from keras_snp.run.prune_stage import settings_from_config
    from keras_snp.snp import SNPResult
    from keras_snp.utils import read_json
    from keras_snp.utils import write_json

    ctx = load_context(args.run_dir)
    model = ctx.model
    settings = settings_from_config(ctx.config)
    out_dir = os.path.join(args.run_dir, "pruned")
    path = os.path.join(out_dir, "pruning.json")
    summary = read_json(path)
    stage_tune = summary["fine_tune"]
    for key, value in dataclasses.asdict(settings.fine_tune).items():
        if stage_tune.get(key) != value:
            raise SystemExit(f"fine-tune {key}: stage {stage_tune.get(key)}"
                             f" != sweep {value}")
    result = SNPResult.load(os.path.join(out_dir, "snp_validation"))
    test = (ctx.splits.test if hasattr(ctx.splits.test, "element_spec")
            else list(ctx.splits.test))
    references = {"unpruned": summary["accuracy"]["unpruned"],
                  "unpruned_fine_tuned":
                      summary["accuracy"]["unpruned_fine_tuned"]}
    rows, hits = [], {}
    start = time.time()

    def save():
        summary["sweep"] = {
            "fine_tune": dataclasses.asdict(settings.fine_tune),
            "thetas": list(args.thetas), "scopes": list(args.scopes),
            "methods": list(args.methods), "rows": rows,
            "references": references,
            "predictions": "sweep_predictions.npz",
            "seconds": time.time() - start}
        write_json(path, summary)
        np.savez(os.path.join(out_dir, "sweep_predictions.npz"), **hits)
        if rows:
            sweep_lib.sweep_figure(rows, os.path.join(out_dir, "sweep.png"),
                                   references)

    for scope in args.scopes:
        for theta in args.thetas:
            masks = connection_masks(model, result, theta, scope)
            diluted = dilution(masks)
            for method in args.methods:
                pruned = prune(model, masks=sweep_lib.control_masks(
                    model, masks, method, settings.seed))
                fine_tune(pruned, ctx.splits.train, settings.fine_tune)
                h = correctness(pruned, test)
                hits[f"{scope}|{theta}|{method}"] = h.astype(bool)
                rows.append({"scope": scope, "theta": float(theta),
                             "method": method, "dilution": diluted,
                             "accuracy": float(h.mean())})
                print(rows[-1], f"{time.time() - start:.0f} s", flush=True)
                save()
                del pruned
    if args.sensitivity:
        table = sweep_lib.sensitivity(
            model, result, test, settings.theta, summary["scope"],
            baseline=references["unpruned"])
        summary["sensitivity"] = {"theta": settings.theta,
                                  "unpruned": references["unpruned"],
                                  "rows": table}
        save()


if __name__ == "__main__":
    main()
