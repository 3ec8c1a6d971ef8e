"""Times the vectorised SNP fields against the per-node silencing loop.

    python scripts/bench_snp.py --variant cct_2_3x2 --tap encoder_1_mha

Both compute V (nodes, K, K) on the same model, tap, readout and batches;
the script prints both times, the ratio, their agreement, and the memory the
vectorised path holds (one batch of activations, the readout weights and
the V sums).
"""

import argparse
import logging
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import keras  # noqa: E402
import numpy as np  # noqa: E402

from keras_snp.models import build_cct  # noqa: E402
from keras_snp.snp import LinearReadout  # noqa: E402
from keras_snp.snp import SNPAccumulator  # noqa: E402
from keras_snp.snp import resolve_taps  # noqa: E402
from keras_snp.snp import tap_model  # noqa: E402
from keras_snp.snp.fields import fields_by_silencing  # noqa: E402

logger = logging.getLogger("bench_snp")


def bench(variant, tap, classes, image_size, batches, batch_size, seed=0):
    """Returns a dict of timings (seconds), sizes (bytes) and the error."""
    keras.utils.set_random_seed(seed)
    model = build_cct(variant, num_classes=classes, image_size=image_size)
    spec = resolve_taps(model, [tap])[0]
    taps = tap_model(model, [spec])
    readout = LinearReadout(classes, spec.tokens, spec.nodes)
    readout.build((None, spec.tokens, spec.nodes))
    readout.kernel.assign(
        np.random.default_rng(seed)
        .normal(size=readout.kernel.shape)
        .astype("float32")
        * 0.01
    )
    rng = np.random.default_rng(seed)
    data = [
        (
            rng.uniform(0, 255, (batch_size, image_size, image_size, 3)).astype(
                "float32"
            ),
            rng.integers(0, classes, batch_size),
        )
        for _ in range(batches)
    ]
    acts = [(taps([x], training=False), y) for x, y in data]

    fast = SNPAccumulator(readout.W)
    fast.update(*acts[0])  # warm-up (first-call tracing)
    fast = SNPAccumulator(readout.W)
    start = time.perf_counter()
    for a, y in acts:
        fast.update(a, y)
    V_fast = fast.result()
    t_fast = time.perf_counter() - start

    start = time.perf_counter()
    sums, counts = np.zeros((spec.nodes, classes, classes)), np.zeros(classes)
    for a, y in acts:
        phi = fields_by_silencing(readout, a, spec.nodes)
        for i in range(classes):
            sums[:, i] += phi[y == i].sum(0)
        counts += np.bincount(y, minlength=classes)
    V_slow = sums / np.maximum(counts, 1)[None, :, None]
    t_slow = time.perf_counter() - start
    error = np.abs(V_fast - V_slow).max() / np.abs(V_slow).max()
    return {
        "tap": tap,
        "nodes": spec.nodes,
        "tokens": spec.tokens,
        "classes": classes,
        "batches": batches,
        "batch_size": batch_size,
        "vectorised_s": t_fast,
        "loop_s": t_slow,
        "ratio": t_slow / t_fast,
        "relative_error": float(error),
        "batch_activations_bytes": batch_size * spec.tokens * spec.nodes * 4,
        "readout_bytes": classes * spec.tokens * spec.nodes * 4,
        "v_sums_bytes": spec.nodes * classes * classes * 4,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", default="cct_2_3x2")
    parser.add_argument(
        "--tap",
        default="encoder_1_mha",
        help="tap layer name (128 nodes in cct_2_3x2)",
    )
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    r = bench(
        args.variant,
        args.tap,
        args.classes,
        args.image_size,
        args.batches,
        args.batch_size,
    )
    logger.info(
        "%s (%d nodes x %d tokens, K=%d), %d batches of %d on %s:\n"
        "  vectorised fields: %.4f s\n  per-node loop:     %.4f s\n"
        "  speed-up:          %.1fx   (relative difference %.2e)\n"
        "  vectorised memory: one batch of activations %.1f MB + readout "
        "%.1f MB + V sums %.1f MB",
        r["tap"],
        r["nodes"],
        r["tokens"],
        r["classes"],
        r["batches"],
        r["batch_size"],
        keras.backend.backend(),
        r["vectorised_s"],
        r["loop_s"],
        r["ratio"],
        r["relative_error"],
        r["batch_activations_bytes"] / 1e6,
        r["readout_bytes"] / 1e6,
        r["v_sums_bytes"] / 1e6,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
