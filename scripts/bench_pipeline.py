"""Input pipeline alone: images/s of the training split, no model.

Reads `--batches` batches of the train split of `keras_snp.data.load` with
the `official` recipe (RandAugment, MixUp / CutMix, random erasing) and,
in the same run, with recipe `none` (reading only), at each `--sizes`,
and prints one JSON line per measurement plus the ratio.

    python scripts/bench_pipeline.py --sizes 32 224 --batch-size 128
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
    p.add_argument("--source", default="synthetic",
                   help="any keras_snp.data source (default synthetic)")
    p.add_argument("--sizes", type=int, nargs="+", default=[32, 224])
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--batches", type=int, default=20)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--recipes", nargs="+", default=["official", "none"])
    p.add_argument("--examples-per-class", type=int, default=128)
    p.add_argument("--num-classes", type=int, default=10)
    p.add_argument("--backend-format", default="auto",
                   choices=("auto", "tf", "numpy"))
    return p.parse_args(argv)


def measure(args, size, recipe):
    from keras_snp.data import load

    splits = load(args.source, size, args.batch_size, recipe=recipe, seed=0,
                  num_classes=args.num_classes,
                  examples_per_class=args.examples_per_class,
                  backend_format=args.backend_format)
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
    return {"recipe": recipe, "image_size": size,
            "batch_size": args.batch_size, "source": args.source,
            "format": type(splits.train).__name__,
            "img_per_s": round(images_seen / elapsed, 1),
            "peak_host_mb": peak_host_mb()}


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse(argv)
    try:
        import keras_snp.data  # noqa: F401
    except ImportError as error:
        log.error("keras_snp.data is not importable yet (%s): nothing to "
                  "measure.", error)
        return 2
    import keras

    for size in args.sizes:
        rows = {}
        for recipe in args.recipes:
            rows[recipe] = measure(args, size, recipe)
            print(json.dumps({**rows[recipe],
                              "backend": keras.backend.backend(),
                              "cpus": os.cpu_count(),
                              "versions": versions()}), flush=True)
        if "official" in rows and "none" in rows:
            ratio = rows["official"]["img_per_s"] / rows["none"]["img_per_s"]
            print(json.dumps({"image_size": size,
                              "official_over_none": round(ratio, 3)}),
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
