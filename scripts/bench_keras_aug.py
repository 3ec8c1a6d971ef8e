"""keras-aug's nearest pipeline vs keras_snp's `OfficialAugment`: img/s.

keras-aug (1.1.1 measured): `RandomResizedCrop` (scale 0.8-1, bilinear, no
antialias) + `RandomFlip` + `RandAugment(magnitude=27 of 31 bins, p=0.5)`
on uint8, then float32 `RandomErasing(p=0.25, value="random")` and
`RandomChoice([CutMix(1.0), MixUp(0.8)])` on smoothed one-hot labels, in a
`tf.function`. It is not timm's recipe (docs/AUGMENTATION.md lists how it
differs); it does comparable work. `OfficialAugment` runs as in
`bench_augment.py` (uint8 in, as the train step runs it). The two are timed
in turns, best of `--rounds`; one JSON line per size. TensorFlow backend.

    PYTHONPATH=/tmp/kaug_site python scripts/bench_keras_aug.py
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench_augment import best_in_turns  # noqa: E402
from bench_augment import new_step  # noqa: E402


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument(
        "--sizes",
        nargs="+",
        default=["224:96", "32:128"],
        help="SIZE:BATCH pairs",
    )
    p.add_argument("--batches", type=int, default=3, help="batches per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--num-classes", type=int, default=10)
    return p.parse_args(argv)


def keras_aug_step(size, num_classes, smoothing=0.1):
    """keras-aug's layers as near timm's recipe as they go, compiled."""
    try:
        import keras_aug
    except ImportError:
        sys.exit("bench_keras_aug: keras_aug missing: pip install keras-aug")
    import keras
    import tensorflow as tf
    from keras_aug.layers.composition import RandomChoice
    from keras_aug.layers.vision import CutMix
    from keras_aug.layers.vision import MixUp
    from keras_aug.layers.vision import RandAugment
    from keras_aug.layers.vision import RandomErasing
    from keras_aug.layers.vision import RandomFlip
    from keras_aug.layers.vision import RandomResizedCrop

    uint8 = [
        RandomResizedCrop(
            size, scale=(0.8, 1.0), antialias=False, dtype="uint8", seed=0
        ),
        RandomFlip(dtype="uint8", seed=1),
        # timm's m=9 of 10 is bin 27 of 31; one p per image for both ops.
        RandAugment(
            p=0.5, magnitude=27, padding_value=117, dtype="uint8", seed=2
        ),
    ]
    erase = RandomErasing(p=0.25, value="random", seed=3)
    mix = RandomChoice([CutMix(1.0, seed=4), MixUp(0.8, seed=5)], seed=6)

    def step(x, y):
        for layer in uint8:
            x = layer(x, training=True)
        x = erase(keras.ops.cast(x, "float32"), training=True)
        y = y * (1.0 - smoothing) + smoothing / num_classes
        out = mix({"images": x, "labels": y}, training=True)
        return out["images"], out["labels"]

    return tf.function(step), keras_aug.__version__


def compare(size, batch_size, batches=3, rounds=3, num_classes=10):
    """Both pipelines in turns at one size; a JSON-friendly row."""
    import keras

    kaug, version = keras_aug_step(size, num_classes)
    steps = {"official": new_step(num_classes), "keras_aug": kaug}
    best = best_in_turns(steps, size, batch_size, batches, rounds, num_classes)
    return {
        "backend": keras.backend.backend(),
        "size": size,
        "batch_size": batch_size,
        "rounds": rounds,
        "batches_per_round": batches,
        "keras_aug_version": version,
        "keras_aug_img_per_s": round(best["keras_aug"], 1),
        "official_img_per_s": round(best["official"], 1),
        "official_over_keras_aug": round(
            best["official"] / best["keras_aug"], 2
        ),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def main(argv=None):
    args = parse(argv)
    for pair in args.sizes:
        size, batch = (int(v) for v in pair.split(":"))
        row = compare(size, batch, args.batches, args.rounds, args.num_classes)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
