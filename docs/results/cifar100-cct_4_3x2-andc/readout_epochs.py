"""Readout accuracy and SNP statistics against readout epochs (issue 12,
item 4), coupled L2 (the default) and decoupled weight decay side by side.

    python docs/results/cifar100-cct_4_3x2-andc/readout_epochs.py RUN_DIR \
        --epochs 8 --checkpoints 1 2 3 4 8

One frozen forward per batch feeds two sets of readouts (same taps, same
augmentation, same data order, same RMS scale), one per weight-decay mode;
their learning rate follows `compute_snp` (lr * lr_decay ** epoch), so the
state after epoch E equals a run of E readout epochs. After each checkpoint
epoch both sets are scored on the test split and their `V` accumulated
there, as the snp stage does. Writes RUN_DIR/readout_epochs.json.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402

MODES = ("coupled", "decoupled")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument(
        "--checkpoints", type=int, nargs="+", default=[1, 2, 3, 4, 8]
    )
    parser.add_argument(
        "--taps",
        nargs="+",
        default=None,
        help="default: the last encoder's mha, ff_hidden, "
        "out and sequence_pool (the classifier's input)",
    )
    parser.add_argument("--theta", type=float, default=0.3)
    args = parser.parse_args(argv)

    from keras_snp.run.prune_run import load_context
    from keras_snp.snp import clusters
    from keras_snp.snp.engine import SNPEngine
    from keras_snp.snp.fields import SNPAccumulator
    from keras_snp.snp.readout import ReadoutConfig
    from keras_snp.snp.readout import augment
    from keras_snp.snp.readout import make_optimizer
    from keras_snp.snp.readout import rebatch
    from keras_snp.snp.taps import resolve_taps

    ctx = load_context(args.run_dir)
    model = ctx.model
    last = max(
        int(n.split("_")[1])
        for n in (layer.name for layer in model.layers)
        if n.startswith("encoder_") and n.split("_")[1].isdigit()
    )
    names = args.taps or [
        f"encoder_{last}_mha",
        f"encoder_{last}_ff_hidden",
        f"encoder_{last}_out",
        "sequence_pool",
    ]
    specs = resolve_taps(model, names)
    K = int(model.outputs[0].shape[-1])
    train, test = ctx.snp_data()
    configs = {
        m: ReadoutConfig(epochs=args.epochs, weight_decay_mode=m) for m in MODES
    }
    engines = {m: SNPEngine(model, specs, K, configs[m]) for m in MODES}
    base = engines["coupled"]
    base.set_scale(train)
    for r, s in zip(engines["decoupled"].readouts, base.readouts):
        r.scale.assign(s.scale)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    trainers, optimizers = {}, {}
    probe = next(iter(rebatch(train, 2)))[0]
    shapes = [tuple(f.shape[1:]) for f in base.features(probe)]
    for m in MODES:
        inputs = [keras.Input(shape) for shape in shapes]
        outs = [r(x) for r, x in zip(engines[m].readouts, inputs)]
        trainers[m] = keras.Model(inputs, outs)
        optimizers[m] = make_optimizer(configs[m])
        trainers[m].compile(optimizer=optimizers[m], loss=[loss] * len(specs))

    # The model's own test accuracy, for the comparison.
    hits = seen = 0
    for images, labels in rebatch(test, 100):
        logits = keras.ops.convert_to_numpy(model(images, training=False))
        hits += int(np.sum(logits.argmax(-1) == labels))
        seen += len(labels)
    model_accuracy = hits / seen
    print(f"model test accuracy {model_accuracy:.4f}", flush=True)

    rng = np.random.default_rng(configs["coupled"].seed)
    rows, start = [], time.time()
    for epoch in range(args.epochs):
        for m in MODES:
            optimizers[m].learning_rate = (
                configs[m].learning_rate * configs[m].lr_decay ** epoch
            )
        for images, labels in rebatch(train, 100):
            images = augment(images, rng, True, 4)
            feats = base.features(images)
            for m in MODES:
                trainers[m].train_on_batch(feats, [labels] * len(specs))
        if epoch + 1 not in args.checkpoints:
            continue
        accs = {
            m: [
                SNPAccumulator(r.W, keras.ops.convert_to_numpy(r.scale), False)
                for r in engines[m].readouts
            ]
            for m in MODES
        }
        correct = {m: np.zeros(len(specs)) for m in MODES}
        n = 0
        for images, labels in rebatch(test, 100):
            feats = base.features(images)
            for m in MODES:
                for i, f in enumerate(feats):
                    logits = keras.ops.convert_to_numpy(
                        engines[m].readouts[i](f)
                    )
                    correct[m][i] += np.sum(logits.argmax(-1) == labels)
                    accs[m][i].update(f, labels)
            n += len(labels)
        for m in MODES:
            for i, s in enumerate(specs):
                st = clusters.tap_stats(accs[m][i].result(), args.theta)
                rows.append(
                    {
                        "epochs": epoch + 1,
                        "mode": m,
                        "tap": s.name,
                        "readout_accuracy": float(correct[m][i] / n),
                        **{
                            k: float(st[k])
                            for k in (
                                "mean_diag",
                                "mean_noise",
                                "snr",
                                "empty_fraction",
                            )
                        },
                    }
                )
                print(json.dumps(rows[-1]), flush=True)
        print(f"epoch {epoch + 1}: {time.time() - start:.0f} s", flush=True)
    out = {
        "model_test_accuracy": model_accuracy,
        "theta": args.theta,
        "taps": names,
        "train_images": ctx.config.examples_per_class,
        "seconds": time.time() - start,
        "rows": rows,
    }
    with open(os.path.join(args.run_dir, "readout_epochs.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
