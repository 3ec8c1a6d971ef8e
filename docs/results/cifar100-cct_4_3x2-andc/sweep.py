"""The dilution-accuracy sweep of a pruned run, keeping per-image hits.

    python docs/results/cifar100-cct_4_3x2-andc/sweep.py RUN_DIR \
        --points readout:0.3 all:0.1 --methods andc [--sensitivity]

`keras_snp.run.prune_stage.run_sweep` point by point (the run's
validation SNP from `pruned/snp_validation`, the fine-tune of
`settings_from_config`, the prune stage's), in the order given, but it
also stores every point's per-image test correctness in
`pruned/sweep_predictions.npz` (keys `scope|theta|method`), so the report
can pair each point with `unpruned_fine_tuned` over the same test images.
It can run beside the prune stage once `pruned/snp_validation` exists:
it writes `pruned/sweep.json` (`sweep`, `sensitivity`; the report reads
it, and checks the fine-tune against the stage's), never pruning.json,
after every point, so a cut-short sweep leaves what it did. A later call
adds to what is there: points already measured (same scope, theta and
method, same fine-tune) are kept and not run again.
"""

import argparse
import dataclasses
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument(
        "--points",
        nargs="*",
        default=["readout:0.2", "readout:0.4", "all:0.2", "all:0.4"],
        help="SCOPE:THETA, in order (none: only --sensitivity)",
    )
    parser.add_argument(
        "--methods", nargs="+", default=["andc", "random", "magnitude"]
    )
    parser.add_argument(
        "--sensitivity",
        action="store_true",
        help="also the per-layer sensitivity table (one "
        "test pass per masked layer)",
    )
    args = parser.parse_args(argv)

    from keras_snp.pruning import sweep as sweep_lib
    from keras_snp.pruning.andc import connection_masks
    from keras_snp.pruning.andc import dilution
    from keras_snp.pruning.andc import prune
    from keras_snp.pruning.fine_tuning import fine_tune
    from keras_snp.run import fit as fit_lib
    from keras_snp.run import prune_stage
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
    path = os.path.join(out_dir, "sweep.json")
    result = SNPResult.load(os.path.join(out_dir, "snp_validation"))
    test = (
        ctx.splits.test
        if hasattr(ctx.splits.test, "element_spec")
        else list(ctx.splits.test)
    )
    points = [(p.split(":")[0], float(p.split(":")[1])) for p in args.points]
    summary, rows, hits = {}, [], {}
    requested = list(args.methods)
    hits_path = os.path.join(out_dir, "sweep_predictions.npz")
    if os.path.isfile(path) and os.path.isfile(hits_path):
        summary = read_json(path)
        earlier = summary.get("sweep", {})
        if earlier.get("fine_tune") != dataclasses.asdict(settings.fine_tune):
            raise SystemExit(
                f"{path} was measured with another fine-tune: move it away "
                "to start a new sweep."
            )
        rows = list(earlier.get("rows", []))
        with np.load(hits_path) as stored:
            hits = {key: stored[key] for key in stored.files}
        points_done = list(earlier.get("points", []))
        args.points = points_done + [
            p for p in args.points if p not in points_done
        ]
        args.methods = list(
            dict.fromkeys(list(earlier.get("methods", [])) + args.methods)
        )
    earlier_seconds = summary.get("sweep", {}).get("seconds", 0.0)
    start = time.time()

    def save():
        summary["sweep"] = {
            "fine_tune": dataclasses.asdict(settings.fine_tune),
            "points": args.points,
            "thetas": sorted({float(p.split(":")[1]) for p in args.points}),
            "methods": list(args.methods),
            "rows": rows,
            "predictions": "sweep_predictions.npz",
            "seconds": earlier_seconds + time.time() - start,
        }
        write_json(path, summary)
        np.savez(os.path.join(out_dir, "sweep_predictions.npz"), **hits)

    for scope, theta in points:
        masks = connection_masks(model, result, theta, scope)
        diluted = dilution(masks)
        for method in requested:
            if sweep_lib.point_key(scope, theta, method) in hits:
                continue
            pruned = prune(
                model,
                masks=sweep_lib.control_masks(
                    model, masks, method, settings.seed
                ),
            )
            fine_tune(pruned, ctx.splits.train, settings.fine_tune)
            h = correctness(pruned, test)
            hits[sweep_lib.point_key(scope, theta, method)] = h.astype(bool)
            rows.append(
                {
                    "scope": scope,
                    "theta": theta,
                    "method": method,
                    "dilution": diluted,
                    "accuracy": float(h.mean()),
                }
            )
            print(rows[-1], f"{time.time() - start:.0f} s", flush=True)
            save()
            del pruned
    # the figure and its TensorBoard image, as `keras-snp prune --sweep`
    pruning = read_json(os.path.join(out_dir, "pruning.json"))
    references = {
        k: v
        for k, v in pruning.get("accuracy", {}).items()
        if k in ("unpruned", "unpruned_fine_tuned")
    }
    if rows:
        figure = sweep_lib.sweep_figure(
            rows, os.path.join(out_dir, "sweep.png"), references
        )
        prune_stage._log_image(fit_lib.log_dir(ctx.folder, "pruning"), figure)
    if args.sensitivity:
        base = float(correctness(model, test).mean())
        table = sweep_lib.sensitivity(
            model, result, test, settings.theta, "all", baseline=base
        )
        summary["sensitivity"] = {
            "theta": settings.theta,
            "unpruned": base,
            "rows": table,
        }
        save()


if __name__ == "__main__":
    main()
