"""Training throughput of a CCT: img/s, step time, MFU, peak memory.

Trains `--warmup` steps (compilation included), then times `--steps` steps
of `model.fit` with AdamW and cross-entropy (label smoothing 0.1). The
backend comes from `KERAS_BACKEND`. Prints one JSON line per measured model;
with `--baseline` it also measures a reference model in the same process
and prints the speed ratio, the only form in which speed claims are made.

    KERAS_BACKEND=jax python scripts/bench_train.py --variant cct_7_3x1 \
        --precision mixed_bfloat16 --batch-size 128 --baseline plain

With `--recipe official` it times the same model twice in turns: trained
through `AugmentedModel` with the official recipe's `OfficialAugment` in
the step (uint8 batches), and bare (recipe `none`, float32 batches, the
same compile settings), and prints the recipe's share of one train step:

    python scripts/bench_train.py --variant cct_2_3x2 --recipe official
"""

import argparse
import json
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from bench_common import device_name  # noqa: E402
from bench_common import peak_device_mb  # noqa: E402
from bench_common import peak_host_mb  # noqa: E402
from bench_common import reset_device_peak  # noqa: E402
from bench_common import versions  # noqa: E402
from plain_cct import build_plain_cct  # noqa: E402

from keras_snp.models import build_cct  # noqa: E402
from keras_snp.models.flops import count_flops  # noqa: E402

log = logging.getLogger("bench_train")
PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


def parse(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--variant", default="cct_2_3x2")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--num-classes", type=int, default=100)
    p.add_argument("--precision", choices=PRECISIONS, default="float32")
    p.add_argument(
        "--data",
        choices=("synthetic-device", "pipeline"),
        default="synthetic-device",
    )
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument(
        "--jit",
        choices=("auto", "on", "off"),
        default="auto",
        help="XLA: keras compile(jit_compile=...)",
    )
    p.add_argument(
        "--attention",
        choices=("auto", "fused", "explicit"),
        default="auto",
        help="PerHeadAttention implementation",
    )
    p.add_argument(
        "--attention-dropout",
        type=float,
        default=None,
        help="override the variant's 0.1 (0 lets training use "
        "the fused attention kernel)",
    )
    p.add_argument(
        "--softmax-dtype",
        choices=("float32", "compute"),
        default=None,
        help="explicit attention softmax dtype",
    )
    p.add_argument("--steps-per-execution", type=int, default=1)
    p.add_argument(
        "--baseline",
        choices=("none", "plain", "explicit", "default"),
        default="none",
        help="also time a reference model: "
        "plain = stock keras.layers.MultiHeadAttention CCT, "
        "explicit = ours with --attention explicit, default = "
        "ours with every model option at its default",
    )
    p.add_argument(
        "--peak-tflops",
        type=float,
        default=790.0,
        help="device peak for MFU (790: H100 bf16 measured)",
    )
    p.add_argument(
        "--recipe",
        choices=("none", "official"),
        default="none",
        help="official: also time the model trained through "
        "AugmentedModel with the official recipe, same run",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="time each model this many times, report the best",
    )
    return p.parse_args(argv)


class StepTimer(keras.callbacks.Callback):
    """Records when each step's results are ready (safe for async dispatch).

    Keras calls `on_train_batch_end` with the step's logs converted to
    Python numbers, so the time is taken after the step has finished.
    """

    async_safe = True

    def __init__(self):
        super().__init__()
        self.times = {}

    def on_train_batch_end(self, batch, logs=None):
        self.times[batch] = time.perf_counter()


def synthetic_data(args):
    """One batch, kept on the device, repeated forever."""
    rng = np.random.default_rng(0)
    images = rng.uniform(
        0, 255, (args.batch_size, args.image_size, args.image_size, 3)
    ).astype("float32")
    labels = np.eye(args.num_classes, dtype="float32")[
        rng.integers(0, args.num_classes, args.batch_size)
    ]
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.data.Dataset.from_tensors((images, labels)).repeat()
    batch = (
        keras.ops.convert_to_tensor(images),
        keras.ops.convert_to_tensor(labels),
    )

    def forever():
        while True:
            yield batch

    return forever()


def pipeline_data(args):
    """The real input pipeline (`keras_snp.data`, official recipe)."""
    try:
        from keras_snp.data import load
    except ImportError as error:
        log.warning(
            "keras_snp.data is not importable (%s): falling back "
            "to --data synthetic-device",
            error,
        )
        return None
    splits = load(
        "synthetic",
        image_size=args.image_size,
        batch_size=args.batch_size,
        recipe="official",
        seed=0,
        num_classes=args.num_classes,
    )
    train = splits.train
    if hasattr(train, "repeat"):
        return train.repeat()

    def forever():
        while True:
            yield from train

    return forever()


def build(args, kind):
    keras.utils.set_random_seed(0)
    if kind == "default":
        return build_cct(
            args.variant,
            num_classes=args.num_classes,
            image_size=args.image_size,
        )
    overrides = {}
    if args.attention_dropout is not None:
        overrides["attention_dropout"] = args.attention_dropout
    if args.softmax_dtype is not None and kind != "plain":
        overrides["softmax_dtype"] = args.softmax_dtype
    if kind == "plain":
        return build_plain_cct(
            args.variant, args.num_classes, args.image_size, **overrides
        )
    attention = "explicit" if kind == "explicit" else args.attention
    return build_cct(
        args.variant,
        num_classes=args.num_classes,
        image_size=args.image_size,
        attention=attention,
        **overrides,
    )


def official_data(args):
    """One uint8 batch with its labels, as `AugmentedModel` trains on it."""
    rng = np.random.default_rng(0)
    images = rng.integers(
        0, 256, (args.batch_size, args.image_size, args.image_size, 3)
    ).astype("uint8")
    labels = np.eye(args.num_classes, dtype="float32")[
        rng.integers(0, args.num_classes, args.batch_size)
    ]
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.data.Dataset.from_tensors(
            ({"images": images, "labels": labels}, labels)
        ).repeat()
    batch = (
        {
            "images": keras.ops.convert_to_tensor(images),
            "labels": keras.ops.convert_to_tensor(labels),
        },
        keras.ops.convert_to_tensor(labels),
    )

    def forever():
        while True:
            yield batch

    return forever()


def recipe_jit(args):
    """The XLA setting `keras_snp.run.fit` gives the augmented step (no
    whole-step XLA on TensorFlow: the recipe compiles its own stages),
    used for both models of a `--recipe official` comparison."""
    if args.jit != "auto":
        return {"on": True, "off": False}[args.jit]
    return keras.backend.backend() != "tensorflow"


class Bench:
    """One compiled model, timed with `model.fit` as often as asked."""

    def __init__(self, args, kind, data, recipe=None):
        self.args, self.kind, self.data = args, kind, data
        self.recipe = recipe
        keras.config.set_dtype_policy(args.precision)
        self.model = build(args, kind)
        # Training FLOPs per image: the forward pass and a backward pass
        # of twice its work, counted on the model as built.
        self.train_flops = 3 * count_flops(self.model)
        jit = {"auto": "auto", "on": True, "off": False}[args.jit]
        smoothing = 0.1
        if recipe is not None:
            jit = recipe_jit(args)
        if recipe == "official":
            from keras_snp.training.augment import OfficialAugment
            from keras_snp.training.augmented import AugmentedModel

            augment = OfficialAugment(
                num_classes=args.num_classes,
                mean=(0.5071, 0.4867, 0.4408),
                std=(0.2675, 0.2565, 0.2761),
                seed=0,
            )
            self.model = AugmentedModel(self.model, augment)
            smoothing = 0.0  # the recipe smooths the labels itself
        self.model.compile(
            optimizer=keras.optimizers.AdamW(6e-4, weight_decay=6e-2),
            loss=keras.losses.CategoricalCrossentropy(
                from_logits=True, label_smoothing=smoothing
            ),
            jit_compile=jit,
            steps_per_execution=args.steps_per_execution,
        )
        self.best, self.fit_s, self.peak_device = None, None, None

    def time_once(self):
        """Warm-up plus timed steps in one `fit`; keeps the best step."""
        spe = self.args.steps_per_execution
        warmup = max(spe, self.args.warmup // spe * spe)
        steps = max(spe, self.args.steps // spe * spe)
        timer = StepTimer()
        start = time.perf_counter()
        self.model.fit(
            self.data,
            epochs=1,
            steps_per_epoch=warmup + steps,
            callbacks=[timer],
            verbose=0,
            shuffle=False,
        )
        self.fit_s = time.perf_counter() - start
        marks = sorted(timer.times)
        first = [m for m in marks if m < warmup][-1]
        elapsed = timer.times[marks[-1]] - timer.times[first]
        step_s = elapsed / (marks[-1] - first)
        self.best = step_s if self.best is None else min(self.best, step_s)
        if self.peak_device is None:  # the process peak so far
            self.peak_device = peak_device_mb()

    def row(self):
        args, kind = self.args, self.kind
        flops = self.train_flops
        img_per_s = args.batch_size / self.best
        return {
            "model": kind,
            "variant": args.variant,
            "recipe": self.recipe,
            "batch_size": args.batch_size,
            "image_size": args.image_size,
            "num_classes": args.num_classes,
            "precision": args.precision,
            "data": args.data,
            "jit": args.jit if self.recipe is None else recipe_jit(args),
            "attention": {
                "plain": "keras_mha",
                "explicit": "explicit",
                "default": "auto",
            }.get(kind, args.attention),
            "attention_dropout": None
            if kind == "default"
            else args.attention_dropout,
            "softmax_dtype": None
            if kind in ("default", "plain")
            else args.softmax_dtype,
            "img_per_s": round(img_per_s, 1),
            "step_ms": round(1e3 * self.best, 3),
            "train_gflop_per_img": round(flops / 1e9, 4),
            "tflops": round(flops * img_per_s / 1e12, 3),
            "mfu": round(flops * img_per_s / (args.peak_tflops * 1e12), 4),
            "repeats": max(1, args.repeat),
            "last_fit_s": round(self.fit_s, 2),
            "params": self.model.count_params(),
            # Process peaks: a baseline's include the model before it.
            "peak_host_mb": peak_host_mb(),
            "peak_device_mb": self.peak_device,
            "backend": keras.backend.backend(),
            "device": device_name(),
            "versions": versions(),
        }


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = parse(argv)
    data = pipeline_data(args) if args.data == "pipeline" else None
    if data is None:
        args.data = "synthetic-device"
        data = synthetic_data(args)
    reset_device_peak()
    if args.recipe == "official":
        benches = [
            Bench(args, "ours", official_data(args), "official"),
            Bench(args, "ours", data, "none"),
        ]
    else:
        benches = [Bench(args, "ours", data)]
    if args.baseline != "none":
        benches.append(Bench(args, args.baseline, data))
    # Interleaved (A B A B ...): a load change on a shared machine hits
    # both models alike, so the ratio of the best times stays fair.
    for _ in range(max(1, args.repeat)):
        for bench in benches:
            bench.time_once()
    rows = [bench.row() for bench in benches]
    for row in rows:
        print(json.dumps(row), flush=True)
    if args.recipe == "official":
        step = {row["recipe"]: row["step_ms"] for row in rows[:2]}
        share = (step["official"] - step["none"]) / step["official"]
        print(
            json.dumps(
                {
                    "recipe_step_ms": step["official"],
                    "none_step_ms": step["none"],
                    "recipe_share_of_step": round(share, 3),
                }
            ),
            flush=True,
        )
    elif len(rows) == 2:
        ratio = rows[0]["img_per_s"] / rows[1]["img_per_s"]
        print(
            json.dumps(
                {
                    "ratio_vs_" + args.baseline: round(ratio, 3),
                    "ours_img_per_s": rows[0]["img_per_s"],
                    "baseline_img_per_s": rows[1]["img_per_s"],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
