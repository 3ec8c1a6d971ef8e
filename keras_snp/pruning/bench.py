"""Inference throughput of a shrunken model against the unpruned one."""

import time

import numpy as np

from keras_snp.models.flops import count_flops
from keras_snp.pruning.andc import prune
from keras_snp.pruning.shrinking import shrink


def throughput(model, images, steps):
    """Images per second of `model.predict_on_batch` (after a warm-up)."""
    model.predict_on_batch(images)
    model.predict_on_batch(images)
    start = time.perf_counter()
    for _ in range(steps):
        np.asarray(model.predict_on_batch(images))
    return steps * len(images) / (time.perf_counter() - start)


def compare_pruned(
    model,
    snp_result,
    batch_size=128,
    steps=20,
    scope="all",
    theta=None,
    rounds=3,
    seed=0,
):
    """Prunes and shrinks `model`, then times both on the same batch.

    The two models are timed alternately `rounds` times and the best of
    each is kept, so a busy machine penalises both alike.

    Returns:
        A dict: images/s of each, their ratio, parameters, FLOPs, the
        ANDC dilution and the largest output difference masked vs shrunk.
    """
    pruned = prune(model, snp_result, theta=theta, scope=scope)
    small = shrink(pruned)
    size = model.input_shape[1]
    images = (
        np.random.default_rng(seed)
        .uniform(0, 255, (batch_size, size, size, 3))
        .astype("float32")
    )
    difference = float(
        np.abs(
            np.asarray(pruned.predict_on_batch(images))
            - np.asarray(small.predict_on_batch(images))
        ).max()
    )
    del pruned
    speeds = {"unpruned": [], "shrunk": []}
    for _ in range(rounds):
        speeds["unpruned"].append(throughput(model, images, steps))
        speeds["shrunk"].append(throughput(small, images, steps))
    base, fast = max(speeds["unpruned"]), max(speeds["shrunk"])
    return {
        "batch_size": batch_size,
        "steps": steps,
        "unpruned_images_per_s": base,
        "shrunk_images_per_s": fast,
        "speed_ratio": fast / base,
        "params_before": int(model.count_params()),
        "params_after": int(small.count_params()),
        "param_ratio": small.count_params() / model.count_params(),
        "flops_before": count_flops(model),
        "flops_after": count_flops(small),
        "flop_ratio": count_flops(small) / count_flops(model),
        "max_abs_difference": difference,
    }


def compare_models(models, batch_size=128, steps=20, rounds=3, seed=0):
    """Images/s of several saved models on one batch, timed alternately.

    Args:
        models: `{name: model}`; the first is the reference of the ratios.
        batch_size, steps, rounds: as `compare_pruned`.
        seed: seed of the random images.

    Returns:
        `{name: {"images_per_s", "speed_ratio", "params", "flops"}}`.

    Example:
    ```python
    compare_models({"unpruned": model, "andc": small})
    ```
    """
    first = next(iter(models.values()))
    size = first.input_shape[1]
    images = (
        np.random.default_rng(seed)
        .uniform(0, 255, (batch_size, size, size, 3))
        .astype("float32")
    )
    speeds = {name: [] for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            speeds[name].append(throughput(model, images, steps))
    base = max(next(iter(speeds.values())))
    return {
        name: {
            "images_per_s": max(s),
            "speed_ratio": max(s) / base,
            "params": int(models[name].count_params()),
            "flops": count_flops(models[name]),
        }
        for name, s in speeds.items()
    }
