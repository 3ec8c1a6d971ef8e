"""Times the shrunken ANDC model against the unpruned one, same run.

    python scripts/bench_pruned.py --variant cct_7_3x1 --batch-size 128
    python scripts/bench_pruned.py --run-dir saved_models/<run>

With `--run-dir` of a pruned run, the saved `model.keras`,
`pruned/model.keras` and `pruned/structured/model.keras` are timed (same
run, same batch); a run without `pruned/` is pruned from its `snp/` result;
otherwise a fresh model is pruned with planted random diagonal sets
(`--labels-per-node`, `--empty-fraction`). Prints images/s of both, the
ratio, and the parameter and FLOP reduction, then the same as JSON.
"""

import argparse
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402

from keras_snp.cli.common import SCOPE_HELP  # noqa: E402
from keras_snp.cli.common import scope  # noqa: E402
from keras_snp.utils import UsageError  # noqa: E402


def load(args):
    """The model and SNP result to prune."""
    if args.run_dir:
        from keras_snp.snp import SNPResult

        path = os.path.join(args.run_dir, "model.keras")
        snp_dir = os.path.join(args.run_dir, "snp")
        if not os.path.exists(path) or not os.path.isdir(snp_dir):
            raise UsageError(
                f"--run-dir {args.run_dir} needs model.keras and snp/: run "
                "scripts/train.py (or analyze.py) first."
            )
        return keras.models.load_model(path), SNPResult.load(snp_dir)
    from keras_snp.models import build_cct
    from tests.pruning.planted import planted_snp_result

    keras.utils.set_random_seed(args.seed)
    model = build_cct(
        args.variant, num_classes=args.num_classes, image_size=args.image_size
    )
    result = planted_snp_result(
        model,
        labels_per_node=args.labels_per_node,
        empty_fraction=args.empty_fraction,
        seed=args.seed,
    )
    return model, result


def run_folder_models(run_dir):
    """The run's unpruned, ANDC-shrunk and (if present) structured models,
    as the pruning stage saved them."""
    from keras_snp.run.export import load_model

    paths = {
        "unpruned": os.path.join(run_dir, "model.keras"),
        "andc_shrunk": os.path.join(run_dir, "pruned", "model.keras"),
        "structured_shrunk": os.path.join(
            run_dir, "pruned", "structured", "model.keras"
        ),
    }
    if not os.path.isfile(paths["andc_shrunk"]):
        return None
    return {
        name: load_model(path)
        for name, path in paths.items()
        if os.path.isfile(path)
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--run-dir",
        help="a run folder with model.keras "
        "and snp/ (default: a fresh model, planted sets)",
    )
    parser.add_argument("--variant", default="cct_7_3x1")
    parser.add_argument("--num-classes", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument(
        "--steps",
        type=int,
        default=20,
        help="timed batches per round (3 rounds)",
    )
    parser.add_argument("--scope", default="all", type=scope, help=SCOPE_HELP)
    parser.add_argument(
        "--labels-per-node",
        type=int,
        default=2,
        help="planted |D_d| of a non-empty node",
    )
    parser.add_argument(
        "--empty-fraction",
        type=float,
        default=0.3,
        help="planted share of nodes with an empty D_d",
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.steps < 1:
        raise UsageError("--batch-size and --steps must be >= 1.")
    from keras_snp.pruning.bench import compare_pruned

    if args.run_dir:
        models = run_folder_models(args.run_dir)
        if models is not None:
            from keras_snp.pruning.bench import compare_models

            report = compare_models(
                models,
                batch_size=args.batch_size,
                steps=args.steps,
                seed=args.seed,
            )
            for name, row in report.items():
                print(
                    f"{name:>18}: {row['images_per_s']:.1f} img/s "
                    f"(x{row['speed_ratio']:.3f}), {row['params']} "
                    f"params, {row['flops']} FLOPs"
                )
            print(
                json.dumps(
                    {
                        "backend": keras.backend.backend(),
                        "batch_size": args.batch_size,
                        **report,
                    }
                )
            )
            return 0
    model, result = load(args)
    report = compare_pruned(
        model,
        result,
        batch_size=args.batch_size,
        steps=args.steps,
        scope=args.scope,
        seed=args.seed,
    )
    report["backend"] = keras.backend.backend()
    print(
        f"unpruned {report['unpruned_images_per_s']:.1f} img/s, shrunk "
        f"{report['shrunk_images_per_s']:.1f} img/s: speed x"
        f"{report['speed_ratio']:.3f}; params x{report['param_ratio']:.3f}"
        f" ({report['params_before']} -> {report['params_after']}), "
        f"FLOPs x{report['flop_ratio']:.3f}; max |masked - shrunk| "
        f"{report['max_abs_difference']:.2e}"
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
