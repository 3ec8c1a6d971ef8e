"""The structured variant (ours) at several fractions, on a prepared run.

    python docs/results/cifar100-cct_4_3x2-andc/structured.py OUT \
        --fractions 0.25 0.5

`OUT` is a run folder with `pruned/snp_validation` (with its arrays) and
`pruned/predictions.npz` holding `unpruned_fine_tuned` (`cpu_float32.py`
writes both). For each fraction: whole FF units and whole heads cut,
weakest by SNP first (`structured_masks`, the stage's), the run's
fine-tune, test correctness, then the physical shrink (checked against
the masked model). At the end every shrunk model is timed against the
unpruned one on this machine (`compare_models`: alternately, batch 128,
20 steps a round, best of `--rounds`).
Writes `pruned/structured.json` and `pruned/structured_predictions.npz`
after each fraction; a fraction already there is not run again.
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
    parser.add_argument("--fractions", nargs="+", type=float, default=[0.5])
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="timing rounds (alternating models, best of each kept)",
    )
    args = parser.parse_args(argv)

    from keras_snp.pruning.andc import prune
    from keras_snp.pruning.bench import compare_models
    from keras_snp.pruning.fine_tuning import fine_tune
    from keras_snp.pruning.shrinking import count_flops
    from keras_snp.pruning.shrinking import shrink
    from keras_snp.pruning.structured import structured_masks
    from keras_snp.reproduce import stats
    from keras_snp.run.prune_run import load_context
    from keras_snp.run.prune_stage import _max_difference
    from keras_snp.run.prune_stage import correctness
    from keras_snp.run.prune_stage import settings_from_config
    from keras_snp.snp import SNPResult
    from keras_snp.utils import read_json
    from keras_snp.utils import write_json

    ctx = load_context(args.run_dir)
    settings = settings_from_config(ctx.config)
    out = os.path.join(args.run_dir, "pruned")
    result = SNPResult.load(os.path.join(out, "snp_validation"))
    with np.load(os.path.join(out, "predictions.npz")) as stored:
        reference = stored["unpruned_fine_tuned"]
    path = os.path.join(out, "structured.json")
    hits_path = os.path.join(out, "structured_predictions.npz")
    summary = read_json(path) if os.path.isfile(path) else {"rows": {}}
    hits = {}
    if os.path.isfile(hits_path):
        with np.load(hits_path) as stored:
            hits = {key: stored[key] for key in stored.files}
    test = list(ctx.splits.test)
    images = keras_images(test)
    small_models = {}
    for fraction in args.fractions:
        key = f"{fraction:g}"
        masks = structured_masks(ctx.model, result, fraction, settings.theta)
        masked = prune(ctx.model, masks=masks)
        if key not in summary["rows"]:
            start = time.time()
            fine_tune(masked, ctx.splits.train, settings.fine_tune)
            seconds = time.time() - start
            h = correctness(masked, test).astype(bool)
            hits[key] = h
            small = shrink(masked)
            summary["rows"][key] = {
                "fraction": fraction,
                "accuracy": float(h.mean()),
                "minus_unpruned_fine_tuned": (
                    stats.bootstrap_accuracy_difference(h, reference, seed=0)
                ),
                "params_after": int(small.count_params()),
                "flops_after": count_flops(small),
                "max_abs_difference_masked_vs_shrunk": _max_difference(
                    masked, small, images
                ),
                "fine_tune_seconds": seconds,
            }
            summary["fine_tune"] = dataclasses.asdict(settings.fine_tune)
            write_json(path, summary)
            np.savez(hits_path, **hits)
            print(key, summary["rows"][key], flush=True)
        else:
            small = shrink(masked)
        small_models[f"structured_{key}"] = small
    summary["unpruned_fine_tuned"] = float(reference.mean())
    summary["bench"] = compare_models(
        {"unpruned": ctx.model, **small_models}, rounds=args.rounds
    )
    summary["bench_rounds"] = args.rounds
    write_json(path, summary)
    print(summary["bench"], flush=True)


def keras_images(test):
    import keras

    return keras.ops.convert_to_numpy(test[0][0])


if __name__ == "__main__":
    main()
