"""The official recipe's images/s, old vs new, same run; no model.

Default (`--mode augment`): the full official recipe as it runs now
(`OfficialAugment`, uint8 batches, inside the compiled step) against the
Keras-layers recipe keras_snp ran before, timed in turns at 224 px (batch
96) and 32 px (batch 128); one JSON line per size with both figures and
the speed-up (`bench_augment.compare`).

`--mode host`: the host input pipeline alone (`keras_snp.data.load`'s
train split) with each `--recipes`, at each `--sizes`.

    python scripts/bench_pipeline.py
    python scripts/bench_pipeline.py --mode host --sizes 32 224
"""

import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_common import peak_host_mb  # noqa: E402
from bench_common import versions  # noqa: E402

log = logging.getLogger("bench_pipeline")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--mode", choices=("augment", "host"), default="augment")
    p.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="augment mode: old/new turns per size",
    )
    p.add_argument(
        "--source",
        default="synthetic",
        help="any keras_snp.data source (default synthetic)",
    )
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 224])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--recipes", nargs="+", default=["official", "none"])
    p.add_argument("--examples-per-class", type=int, default=128)
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument(
        "--backend-format", default="auto", choices=("auto", "tf", "numpy")
    )
    return p.parse_args(argv)


def measure(args, size, recipe):
    from keras_snp.data import load

    splits = load(
        args.source,
        size,
        args.batch_size,
        recipe=recipe,
        seed=0,
        num_classes=args.num_classes,
        examples_per_class=args.examples_per_class,
        backend_format=args.backend_format,
    )
    train = splits.train
    if hasattr(train, "repeat"):  # tf.data: never run out mid-measurement
        train = train.repeat()
    images_seen, start = 0, None
    iterator = iter(train)
    for index in range(args.warmup + args.batches):
        try:
            images, _ = next(iterator)
        except StopIteration:
            iterator = iter(train)
            images, _ = next(iterator)
        if index == args.warmup - 1 or (start is None and args.warmup == 0):
            start = time.perf_counter()
            continue
        if start is not None:
            images_seen += int(images.shape[0])
    elapsed = time.perf_counter() - start
    return {
        "recipe": recipe,
        "image_size": size,
        "batch_size": args.batch_size,
        "source": args.source,
        "format": type(splits.train).__name__,
        "img_per_s": round(images_seen / elapsed, 1),
        "peak_host_mb": peak_host_mb(),
    }


# Sizes and batches of the benchmark: 224 px at 96, 32 px at 128.
AUGMENT_CASES = ((224, 96, 2), (32, 128, 10))


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse(argv)
    if args.mode == "augment":
        from bench_augment import compare

        for size, batch_size, batches in AUGMENT_CASES:
            row = compare(size, batch_size, batches, args.rounds)
            print(json.dumps({**row, "versions": versions()}), flush=True)
        return 0
    try:
        import keras_snp.data  # noqa: F401
    except ImportError as error:
        log.error(
            "keras_snp.data is not importable yet (%s): nothing to measure.",
            error,
        )
        return 2
    import keras

    for size in args.sizes:
        rows = {}
        for recipe in args.recipes:
            rows[recipe] = measure(args, size, recipe)
            print(
                json.dumps(
                    {
                        **rows[recipe],
                        "backend": keras.backend.backend(),
                        "cpus": os.cpu_count(),
                        "versions": versions(),
                    }
                ),
                flush=True,
            )
        if "official" in rows and "none" in rows:
            ratio = rows["official"]["img_per_s"] / rows["none"]["img_per_s"]
            print(
                json.dumps(
                    {"image_size": size, "official_over_none": round(ratio, 3)}
                ),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
