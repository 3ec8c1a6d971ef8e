"""SNP, head experts and ANDC on two models that are not keras_snp's CCT,
trained here on real CIFAR-100 (32 px): `keras.applications.VGG16` with
`weights=None` (the lab's CNN) and a small keras-hub ViT (random init).

    python docs/results/any-model/run.py vgg16 docs/results/any-model \
        --npz ../shared/data/cifar100/cifar100.npz \
        --label-names ../shared/data/cifar100/label_names.json#fine_label_names
    python docs/results/any-model/run.py vit ...   (same flags)
    python docs/results/any-model/summarise.py docs/results/any-model

Each run writes OUT/MODEL/: `model.keras` (outside git: too large),
`result.json` (training, SNP by depth, ANDC against its controls),
`analysis/snp/` and, for the ViT, `analysis/heads/`. Steps: train with the
`light` recipe (flip, +-4 px shift), Adam; `keras_snp.analyze` on the train
and test splits; the SNP of every pruned layer's sites on the validation
split (never on test); `keras_snp.pruning.any_compare.compare`: ANDC,
random and magnitude masks at ANDC's per-layer sparsity, each fine-tuned
alike, and the unpruned model fine-tuned alike.
"""

import argparse
import collections
import json
import logging
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

import keras_snp  # noqa: E402
from keras_snp import data as data_lib  # noqa: E402
from keras_snp.pruning.any_compare import compare  # noqa: E402
from keras_snp.pruning.any_model import connection_sites  # noqa: E402
from keras_snp.pruning.any_model import connections  # noqa: E402
from keras_snp.pruning.scoring import accuracy  # noqa: E402
from keras_snp.snp.engine import compute_snp  # noqa: E402

K = 100


def rescaled_input():
    images = keras.Input((32, 32, 3), name="images")
    return images, keras.layers.Rescaling(1 / 127.5, offset=-1)(images)


def build_vgg16():
    images, x = rescaled_input()
    vgg = keras.applications.VGG16(
        weights=None, input_tensor=x, classes=K, classifier_activation=None
    )
    # Keras' Glorot kernels shrink the signal ~sqrt(2) per ReLU layer: with
    # them VGG16 stayed at chance (loss ln 100) for 3 epochs here. He
    # initialisation, as VGG is trained from scratch today.
    for seed, layer in enumerate(vgg.layers):
        if hasattr(layer, "kernel"):
            init = keras.initializers.HeNormal(seed=seed)
            layer.kernel.assign(init(layer.kernel.shape))
    return keras.Model(images, vgg.output, name="vgg16")


def build_vit():
    import keras_hub

    backbone = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=4,
        num_layers=4,
        num_heads=4,
        hidden_dim=128,
        mlp_dim=256,
    )
    classifier = keras_hub.models.ViTImageClassifier(
        backbone=backbone, num_classes=K, activation=None
    )
    images, x = rescaled_input()
    return keras.Model(images, classifier(x), name="vit")


BUILDERS = {"vgg16": build_vgg16, "vit": build_vit}
Splits = collections.namedtuple("Splits", "train validation test")


def materialise(split):
    return [(np.asarray(x), np.asarray(y)) for x, y in split]


def site_rows(snp_result):
    taps = snp_result.summary()["taps"]
    return {
        name: {k: v for k, v in row.items() if k != "convergence"}
        for name, row in taps.items()
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=sorted(BUILDERS))
    parser.add_argument("out")
    parser.add_argument("--npz", required=True)
    parser.add_argument("--label-names", required=True)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--learning-rate", type=float, default=3e-4)
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    parser.add_argument("--readout", default="pooled")
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--null-samples", type=int, default=100)
    parser.add_argument("--max-passes", type=int, default=1000)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    out = os.path.join(args.out, args.model)
    os.makedirs(out, exist_ok=True)
    keras.utils.set_random_seed(0)
    names = data_lib.read_label_names(args.label_names)
    common = dict(seed=0, examples_per_class=args.per_class, label_names=names)
    light = data_lib.load(args.npz, 32, 64, recipe="light", **common)
    plain = data_lib.load(args.npz, 32, 100, recipe="none", **common)
    timings = {}

    model_path = os.path.join(out, "model.keras")
    start = time.time()
    if os.path.exists(model_path):
        model = keras.models.load_model(model_path)
        history = json.load(open(os.path.join(out, "history.json")))
    else:
        model = BUILDERS[args.model]()
        model.compile(
            keras.optimizers.Adam(args.learning_rate),
            keras.losses.CategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
            jit_compile=args.model != "vgg16",  # XLA's CPU conv is slower
        )
        fit = model.fit(
            light.train,
            validation_data=plain.validation,
            epochs=args.epochs,
            verbose=2,
        )
        history = {k: [float(v) for v in vs] for k, vs in fit.history.items()}
        model.save(model_path)
        with open(os.path.join(out, "history.json"), "w") as f:
            json.dump(history, f, indent=1)
    timings["train_s"] = time.time() - start
    # Held in memory once: every analysis step reads the splits many times.
    plain = Splits(
        *(materialise(s) for s in (plain.train, plain.validation, plain.test))
    )
    test_accuracy = accuracy(model, plain.test)
    test_images = sum(len(x) for x, _ in plain.test)
    print(f"{args.model}: test accuracy {test_accuracy:.4f}", flush=True)

    settings = dict(
        readout=args.readout, views=args.views, max_passes=args.max_passes
    )
    start = time.time()
    analysis = keras_snp.analyze(
        model,
        plain.train,
        plain.test,
        label_names=names,
        null_samples=args.null_samples,
        verbose=1,
        **settings,
    )
    analysis.save(os.path.join(out, "analysis"))
    timings["analyze_s"] = time.time() - start
    print("analysis done", flush=True)

    start = time.time()
    conns = connections(model)
    sets = compute_snp(
        model,
        plain.train,
        plain.validation,
        taps=connection_sites(conns),
        verbose=1,
        **settings,
    )
    timings["pruning_snp_s"] = time.time() - start
    start = time.time()
    comparison, _ = compare(
        model,
        sets,
        light.train,
        plain.test,
        fine_tune_epochs=args.fine_tune_epochs,
    )
    timings["compare_s"] = time.time() - start
    heads = analysis.heads.to_dict() if analysis.heads is not None else None
    result = {
        "model": args.model,
        "params": int(model.count_params()),
        "per_class": args.per_class,
        "epochs": args.epochs,
        "history": history,
        "test_accuracy": test_accuracy,
        "test_images": test_images,
        "train_images": sum(len(x) for x, _ in plain.train),
        "validation_images": sum(len(x) for x, _ in plain.validation),
        "learning_rate": args.learning_rate,
        "readout": settings,
        "sites": site_rows(analysis.snp),
        "convergence": {
            name: tap.convergence for name, tap in analysis.snp.taps.items()
        },
        "heads": heads,
        "pruning": comparison.to_dict(),
        "pruned_layers": len(conns),
        "timings_s": timings,
    }
    with open(os.path.join(out, "result.json"), "w") as f:
        json.dump(result, f, indent=1, default=float)
    print(json.dumps(result["pruning"], indent=1), flush=True)


if __name__ == "__main__":
    main()
