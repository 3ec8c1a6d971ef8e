"""SNP speed: the converged readouts against the lab's protocol and the
FLOP bound, and the vectorised fields against the per-node loop.

    python scripts/bench_snp.py converged --model RUN/model.keras \
        --npz ../shared/data/cifar100/cifar100.npz --out RESULT.md
    python scripts/bench_snp.py fields --variant cct_2_3x2 --tap encoder_1_mha
    python scripts/bench_snp.py forward --variant cct_2_3x2 --batch-size 20

`converged`: in one run on one machine, the converged SNP of every tap
with the pipeline's default solver (`--solver`: `stream`, one forward per
fresh view; `lbfgs`, a cache of `--views` views) (wall time, passes, peak
host memory), one epoch
of the lab's protocol on a slice (extrapolated to the split and to 200
epochs), and the FLOP bound (cached passes x readout matmul FLOPs at the
matmul rate measured here), with the ratios.

`fields`: both paths compute V (nodes, K, K) on the same model, tap,
readout and batches; the script prints both times, the ratio, their
agreement, and the memory the vectorised path holds.

`forward`: the frozen forward of every tap as the readout solvers run it
once per view and batch, compiled (`predict_on_batch`, the default)
against eager (`run_eagerly=True`, the baseline), with their agreement.
"""

import argparse
import json
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
LAB_EPOCHS = 200


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


def matmul_rate(width, classes, rows=4096, repeats=5):
    """FLOP/s of the readout's float32 product on this machine and
    backend: `(rows, width) @ (width, classes)`, best of `repeats`."""
    from keras import ops

    rng = np.random.default_rng(0)
    x = ops.convert_to_tensor(rng.normal(size=(rows, width)), "float32")
    w = ops.convert_to_tensor(rng.normal(size=(width, classes)), "float32")
    ops.convert_to_numpy(ops.matmul(x, w))
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        ops.convert_to_numpy(ops.matmul(x, w))
        best = min(best, time.perf_counter() - start)
    return 2.0 * rows * width * classes / best


def peak_host_mb():
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def take(batches, images):
    """The first `images` images of a stream of batches, as a list."""
    out, held = [], 0
    for x, y in batches:
        x, y = np.asarray(x), np.asarray(y)
        out.append((x[: images - held], y[: images - held]))
        held += len(out[-1][1])
        if held >= images:
            break
    return out


def bench_converged(args):
    from keras_snp import data as data_lib
    from keras_snp.snp import ReadoutConfig
    from keras_snp.snp import resolve_taps
    from keras_snp.snp.engine import SNPEngine

    model = keras.models.load_model(args.model)
    K = int(model.outputs[0].shape[-1])
    splits = data_lib.load(args.npz, 32, 100, recipe="none", seed=0)
    train = take(splits.train, args.images)
    images = sum(len(y) for _, y in train)
    specs = resolve_taps(model, args.taps)
    widths = [s.tokens * s.nodes for s in specs]
    rate = matmul_rate(max(widths), K)

    lab = SNPEngine(
        model, specs, K, ReadoutConfig(solver="lab", epochs=1).validate()
    )
    lab_slice = take(train, args.lab_images)
    lab.train(lab_slice[:2], verbose=0)  # warm-up: tracing
    start = time.perf_counter()
    lab.train(lab_slice, verbose=0)
    lab_epoch = (time.perf_counter() - start) * images / args.lab_images

    config = ReadoutConfig(solver=args.solver, views=args.views).validate()
    engine = SNPEngine(model, specs, K, config)
    start = time.perf_counter()
    if args.solver == "stream":
        # one forward per fresh view, interleaved with that view's steps
        records = engine.fit(train, cache_dir=args.cache_dir, verbose=1)
        cache_s, on_disk = None, False
    else:
        cache = engine.cache_features(train, args.cache_dir, verbose=0)
        cache_s = time.perf_counter() - start
        on_disk = cache.on_disk
        try:
            records = engine.solve(cache, verbose=1)
        finally:
            cache.close()
    total_s = time.perf_counter() - start
    solve_s = total_s - (cache_s or 0.0)
    passes = [r.passes for r in records]
    bound = (
        sum(
            p * 4.0 * r.rows * w * K for p, r, w in zip(passes, records, widths)
        )
        / rate
    )
    return {
        "model": args.model,
        "taps": len(specs),
        "images": images,
        "solver": args.solver,
        "views": args.views
        if args.solver != "stream"
        else [r.views for r in records],
        "rows": records[0].rows,
        "matmul_gflops": rate / 1e9,
        "converged": sum(bool(r.converged) for r in records),
        "passes": passes,
        "cache_s": cache_s,
        "cache_on_disk": on_disk,
        "solve_s": solve_s,
        "total_s": total_s,
        "flop_bound_s": bound,
        "lab_epoch_s": lab_epoch,
        "lab_200_s": lab_epoch * LAB_EPOCHS,
        "peak_host_mb": peak_host_mb(),
        "records": [
            dict(r.to_dict(), tap=s.name) for r, s in zip(records, specs)
        ],
    }


def views_text(r):
    if r["solver"] == "stream":
        return (
            f"{min(r['views'])}-{max(r['views'])} fresh views per tap "
            f"(one forward of every active tap per view), {r['rows']:,} rows "
            "per view"
        )
    return (
        f"{r['views']} views = {r['rows']:,} cached rows per tap "
        f"({'spilled to disk' if r['cache_on_disk'] else 'in memory'})"
    )


def converged_report(r, command):
    from bench_common import device_name
    from bench_common import versions

    lines = [
        f"# Converged SNP speed, {time.strftime('%Y-%m-%d')}, "
        f"{device_name()}, {keras.backend.backend()} backend",
        "",
        f"Versions: {json.dumps(versions())}.",
        "",
        "Command:",
        "",
        f"    {command}",
        "",
        f"{r['taps']} taps, {r['images']:,} training images, solver "
        f"`{r['solver']}`: {views_text(r)}; float32 readout matmul "
        f"measured at {r['matmul_gflops']:.1f} GFLOP/s.",
        "",
        "| what | seconds |",
        "| --- | --- |",
        f"| converged SNP, all taps (forwards + solves) | {r['total_s']:.1f} |",
    ]
    stream = r["solver"] == "stream"
    if not stream:
        lines += [
            "| of which the cache (one forward per view) | "
            f"{r['cache_s']:.1f} |",
            f"| of which the solves | {r['solve_s']:.1f} |",
        ]
    lines += [
        f"| FLOP bound of the solves (passes x 4 rows width K / rate) "
        f"| {r['flop_bound_s']:.1f} |",
        f"| lab protocol, one epoch (measured on a slice, scaled) "
        f"| {r['lab_epoch_s']:.1f} |",
        f"| lab protocol, {LAB_EPOCHS} epochs | {r['lab_200_s']:.1f} |",
        "",
        f"- converged: {r['converged']} of {r['taps']} taps; passes per tap "
        f"{min(r['passes'])}-{max(r['passes'])} (total {sum(r['passes'])})",
        f"- **lab {LAB_EPOCHS} epochs / converged SNP: "
        f"{r['lab_200_s'] / r['total_s']:.1f}x**",
        f"- **{'forwards + solves' if stream else 'solves'}"
        f" / FLOP bound: {r['solve_s'] / r['flop_bound_s']:.2f}x**",
        f"- peak host memory: {r['peak_host_mb']:.0f} MB",
        "",
    ]
    # stream converges on a held-out view's change, lbfgs on the gradient
    criterion = "held-out change" if stream else "relative gradient"
    lines += [
        f"| tap | converged | passes | objective | {criterion} | s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for c in r["records"]:
        value = c["held_out_change"] if stream else c["relative_grad_norm"]
        lines.append(
            f"| {c['tap']} | {c['converged']} | {c['passes']} | "
            f"{c['objective']:.5f} | {value:.1e} | {c['seconds']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def converged_main(argv):
    from keras_snp.settings import ReadoutConfig

    parser = argparse.ArgumentParser(
        prog="bench_snp.py converged", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", required=True, help="a trained .keras")
    parser.add_argument("--npz", required=True, help="CIFAR-100 .npz")
    parser.add_argument("--images", type=int, default=45000)
    parser.add_argument(
        "--solver",
        choices=("stream", "lbfgs"),
        default=ReadoutConfig().solver,
        help="the readout solver measured (default: the pipeline's default)",
    )
    parser.add_argument(
        "--views", type=int, default=2, help="cached views (lbfgs only)"
    )
    parser.add_argument("--lab-images", type=int, default=2000)
    parser.add_argument("--taps", nargs="+", default=None)
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--out", help="also write the report here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    import keras_snp  # noqa: F401  (registers the layers)

    result = bench_converged(args)
    command = "python scripts/bench_snp.py converged " + " ".join(argv)
    text = converged_report(result, command)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    return 0


def bench_forward(variant, classes, image_size, batches, batch_size):
    """Seconds per frozen forward of every tap, eager and compiled."""
    from keras_snp.settings import ReadoutConfig
    from keras_snp.snp.engine import SNPEngine

    keras.utils.set_random_seed(0)
    model = build_cct(variant, num_classes=classes, image_size=image_size)
    specs = resolve_taps(model, None)
    images = np.random.default_rng(0).uniform(
        0, 1, (batch_size, image_size, image_size, 3)
    )
    images = images.astype("float32")
    engine = SNPEngine(model, specs, classes, ReadoutConfig())
    seconds, outputs = {}, {}
    for name, eagerly in (("eager", True), ("compiled", False)):
        engine.run_eagerly = eagerly
        outputs[name] = engine.features(images)  # warm-up (and trace)
        start = time.perf_counter()
        for _ in range(batches):
            engine.features(images)
        seconds[name] = (time.perf_counter() - start) / batches
    difference = max(
        float(np.max(np.abs(np.asarray(a) - np.asarray(b))))
        for a, b in zip(outputs["eager"], outputs["compiled"])
    )
    return seconds, len(specs), difference


def model_parser(description, batches):
    """The flags of the untrained model and the batches both micro-benches
    (`fields`, `forward`) time."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--variant", default="cct_2_3x2")
    parser.add_argument("--classes", type=int, default=100)
    parser.add_argument("--image-size", type=int, default=32)
    parser.add_argument("--batches", type=int, default=batches)
    parser.add_argument("--batch-size", type=int, default=100)
    return parser


def forward_main(argv):
    args = model_parser("frozen forward, all taps", 20).parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    seconds, taps, difference = bench_forward(
        args.variant,
        args.classes,
        args.image_size,
        args.batches,
        args.batch_size,
    )
    logger.info(
        "%s, %d taps, %d batches of %d at %d px on %s:\n"
        "  eager (baseline): %.4f s per batch\n"
        "  compiled:         %.4f s per batch\n"
        "  speed-up:         %.1fx   (largest difference %.1e)",
        args.variant,
        taps,
        args.batches,
        args.batch_size,
        args.image_size,
        keras.backend.backend(),
        seconds["eager"],
        seconds["compiled"],
        seconds["eager"] / seconds["compiled"],
        difference,
    )
    return 0


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "converged":
        return converged_main(argv[1:])
    if argv and argv[0] == "forward":
        return forward_main(argv[1:])
    if argv and argv[0] == "fields":
        argv = argv[1:]
    parser = model_parser(__doc__.splitlines()[0], 10)
    parser.add_argument(
        "--tap",
        default="encoder_1_mha",
        help="tap layer name (128 nodes in cct_2_3x2)",
    )
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
