"""The official recipe's augmentation alone, old vs new, same run: img/s.

Old: Keras 3's layers as keras_snp used them before (`RandAugment(factor
=0.9)`, `MixUp`, `CutMix`, `RandomErasing`) on a float32 batch. New:
`keras_snp.training.augment.OfficialAugment` on a uint8 batch, as a
`tf.function` on TensorFlow (op by op on JAX: not the train step's speed).

    python scripts/bench_augment.py --size 224 --batch-size 96
"""

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--size", type=int, default=224)
    p.add_argument("--batch-size", type=int, default=96)
    p.add_argument("--batches", type=int, default=3)
    p.add_argument("--skip-old", action="store_true")
    return p.parse_args(argv)


def _old(batch, labels):
    import keras

    ra = keras.layers.RandAugment(value_range=(0, 255), num_ops=2,
                                  factor=0.9, seed=0)
    mixup = keras.layers.MixUp(alpha=0.8, seed=1)
    erase = keras.layers.RandomErasing(factor=(0.25, 0.25),
                                       value_range=(0, 255), seed=3)

    def step(x, y):
        x = ra(keras.ops.cast(x, "float32"), training=True)
        data = mixup({"images": x, "labels": y}, training=True)
        return erase(data["images"], training=True), data["labels"]

    return step


def _new(num_classes):
    from keras_snp.training.augment import OfficialAugment

    layer = OfficialAugment(num_classes=num_classes, mean=(0.5, 0.49, 0.44),
                            std=(0.27, 0.26, 0.28), seed=0)

    def step(x, y):
        return layer(x, y, training=True)

    return step


def _time(step, x, y, batches):
    import keras

    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        step = tf.function(step)
    out = step(x, y)
    keras.ops.convert_to_numpy(out[0])
    start = time.perf_counter()
    for _ in range(batches):
        keras.ops.convert_to_numpy(step(x, y)[0])
    return batches * len(x) / (time.perf_counter() - start)


def main(argv=None):
    import keras
    import numpy as np

    args = parse(argv)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (args.batch_size, args.size, args.size, 3))
    x = x.astype("uint8")
    y = np.eye(10, dtype="float32")[rng.integers(0, 10, args.batch_size)]
    row = {"backend": keras.backend.backend(), "size": args.size,
           "batch_size": args.batch_size, "cpus": os.cpu_count()}
    if not args.skip_old and keras.backend.backend() == "tensorflow":
        row["old_img_per_s"] = round(_time(_old(x, y), x, y, args.batches), 1)
    row["new_img_per_s"] = round(_time(_new(10), x, y, args.batches), 1)
    print(json.dumps(row))


if __name__ == "__main__":
    main()
