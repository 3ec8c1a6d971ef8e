"""The browsable pages of the two models of `run.py` (VGG16 and the
keras-hub ViT), from what `run.py` left in its output folder (the trained
model and the SNP with its readout weights, `snp.npz`, too large for git):

    python docs/results/any-model/pages.py vit /tmp/anym \
        --npz ../shared/data/cifar100/cifar100.npz \
        --label-names ../shared/data/cifar100/label_names.json#fine_label_names

reads OUT/vit/model.keras and OUT/vit/analysis/{snp,heads}, and writes the
site to OUT/vit/pages/ (outside git: the screenshots in docs/images/ are
what is committed). Prints the build's seconds and size.
"""

import argparse
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

import keras_snp  # noqa: E402, F401  (registers the serializables)
from keras_snp import data as data_lib  # noqa: E402
from keras_snp.pages import PagesSettings  # noqa: E402
from keras_snp.pages import build_pages  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", choices=["vgg16", "vit"])
    parser.add_argument("out", help="run.py's output folder")
    parser.add_argument("--npz", required=True)
    parser.add_argument("--label-names", required=True)
    parser.add_argument("--per-class", type=int, default=100)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    model_dir = os.path.join(args.out, args.model)
    model = keras.models.load_model(os.path.join(model_dir, "model.keras"))
    names = data_lib.read_label_names(args.label_names)
    splits = data_lib.load(
        args.npz,
        32,
        100,
        recipe="none",
        seed=0,
        examples_per_class=args.per_class,
        label_names=names,
    )
    run_dir = os.path.join(model_dir, "analysis")
    start = time.monotonic()
    info, _ = build_pages(
        run_dir,
        model,
        splits.test,
        settings=PagesSettings(),
        out_dir=os.path.join(model_dir, "pages"),
        run_state={
            "run_name": args.model,
            "config": {"dataset": "CIFAR-100 (" + args.npz + ")"},
            "model": {"variant": model.name},
        },
    )
    seconds = time.monotonic() - start
    print(
        json.dumps(
            {
                "model": args.model,
                "index": info["index"],
                "nodes": info["nodes"],
                "megabytes": round(info["bytes"] / 1e6, 2),
                "seconds": round(seconds, 1),
                "parts": {k: round(v, 1) for k, v in info["seconds"].items()},
            }
        )
    )


if __name__ == "__main__":
    main()
