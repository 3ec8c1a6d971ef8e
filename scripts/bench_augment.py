"""The official recipe's augmentation alone, old vs new, same run: img/s.

Old: Keras 3's layers as keras_snp used them before (`RandAugment(factor
=0.9)`, `MixUp`, `RandomErasing`) on a float32 batch, in a `tf.function`.
New: `keras_snp.training.augment.OfficialAugment` on a uint8 batch, as it
runs in the train step: inside a `tf.function` on TensorFlow (its stages
are XLA computations of their own), inside `jax.jit` on JAX. The two are
timed in turns (old, new, old, new, ...) so that the load of a shared
machine hits both alike; the best of the rounds is kept.

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
    p.add_argument("--batches", type=int, default=3, help="batches per round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--skip-old", action="store_true")
    return p.parse_args(argv)


def old_step():
    """The Keras-layers recipe keras_snp ran before (TensorFlow only)."""
    import keras
    import tensorflow as tf

    ra = keras.layers.RandAugment(
        value_range=(0, 255), num_ops=2, factor=0.9, seed=0
    )
    mixup = keras.layers.MixUp(alpha=0.8, seed=1)
    erase = keras.layers.RandomErasing(
        factor=(0.25, 0.25), value_range=(0, 255), seed=3
    )

    def step(x, y):
        x = ra(keras.ops.cast(x, "float32"), training=True)
        data = mixup({"images": x, "labels": y}, training=True)
        return erase(data["images"], training=True), data["labels"]

    return tf.function(step)


def new_step(num_classes):
    """`OfficialAugment` compiled the way the train step compiles it."""
    import keras

    from keras_snp.training.augment import OfficialAugment

    layer = OfficialAugment(
        num_classes=num_classes,
        mean=(0.5, 0.49, 0.44),
        std=(0.27, 0.26, 0.28),
        seed=0,
    )
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(lambda x, y: layer(x, y, training=True))
    if keras.backend.backend() == "jax":
        import jax
        from keras.src.backend.jax.core import StatelessScope

        layer.build(None)
        variable = layer.seed_generator.state

        @jax.jit
        def pure(state, x, y):
            with StatelessScope(state_mapping=[(variable, state)]) as scope:
                out = layer(x, y, training=True)
            return out, scope.get_current_value(variable)

        holder = [variable.value]

        def step(x, y):
            out, holder[0] = pure(holder[0], x, y)
            return out

        return step
    return lambda x, y: layer(x, y, training=True)


def time_round(step, x, y, batches):
    """img/s of `batches` calls (results fetched to the host)."""
    import keras

    start = time.perf_counter()
    for _ in range(batches):
        keras.ops.convert_to_numpy(step(x, y)[0])
    return batches * len(x) / (time.perf_counter() - start)


def best_in_turns(steps, size, batch_size, batches, rounds, num_classes):
    """Best img/s of each of `steps` (name -> step), timed in turns on
    one random uint8 batch; compiled / traced outside the timing."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (batch_size, size, size, 3)).astype("uint8")
    y = np.eye(num_classes, dtype="float32")[
        rng.integers(0, num_classes, batch_size)
    ]
    for step in steps.values():
        keras.ops.convert_to_numpy(step(x, y)[0])
    best = {name: 0.0 for name in steps}
    for _ in range(rounds):
        for name, step in steps.items():
            best[name] = max(best[name], time_round(step, x, y, batches))
    return best


def compare(
    size, batch_size, batches=3, rounds=3, skip_old=False, num_classes=10
):
    """Old and new in turns at one size; a JSON-friendly row."""
    import keras

    steps = {"new": new_step(num_classes)}
    if not skip_old and keras.backend.backend() == "tensorflow":
        steps["old"] = old_step()
    best = best_in_turns(steps, size, batch_size, batches, rounds, num_classes)
    row = {
        "backend": keras.backend.backend(),
        "size": size,
        "batch_size": batch_size,
        "cpus": os.cpu_count(),
        "rounds": rounds,
        "batches_per_round": batches,
        "new_img_per_s": round(best["new"], 1),
    }
    if "old" in best:
        row["old_img_per_s"] = round(best["old"], 1)
        row["speedup"] = round(best["new"] / best["old"], 2)
    return row


def main(argv=None):
    args = parse(argv)
    print(
        json.dumps(
            compare(
                args.size,
                args.batch_size,
                args.batches,
                args.rounds,
                args.skip_old,
            )
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
