"""Adds the SavedModels to a run folder made where TensorFlow was absent.

    python docs/results/cifar100-cct_4_3x2-andc/add_saved_models.py RUN_DIR

A run made on the JAX backend without TensorFlow (the K = 100 CIFAR-100
run was trained on a GPU machine that has no TensorFlow) writes
`model.keras` and `pruned/model.keras` but no SavedModel, so the prune
stage's size table lacks the SavedModel rows. On a machine with
TensorFlow this writes `saved_model/` and `pruned/saved_model/` from the
two `.keras` files (the same `export_saved_model` the export stage uses)
and adds their raw and deflated sizes to `pruned/pruning.json`, the
unpruned one measured, like the stage does, on an uncompiled copy.
`run.json` gets `stages.export.paths.saved_model`.
"""

import argparse
import os
import sys
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, ROOT)

import keras  # noqa: E402

from keras_snp.run import export as export_lib  # noqa: E402
from keras_snp.utils import read_json  # noqa: E402
from keras_snp.utils import write_json  # noqa: E402


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    args = parser.parse_args(argv)
    run_dir = args.run_dir
    model = export_lib.load_model(os.path.join(run_dir, "model.keras"))
    pruned_dir = os.path.join(run_dir, "pruned")
    pruned = export_lib.load_model(os.path.join(pruned_dir, "model.keras"))
    for m, directory in ((model, run_dir), (pruned, pruned_dir)):
        target = os.path.join(directory, "saved_model")
        if not os.path.isdir(target):
            export_lib.export_saved_model(m, target)
    state_path = os.path.join(run_dir, "run.json")
    state = read_json(state_path)
    export = state["stages"].setdefault("export", {})
    export.setdefault("paths", {})["saved_model"] = "saved_model"
    write_json(state_path, state)

    pruning_path = os.path.join(pruned_dir, "pruning.json")
    summary = read_json(pruning_path)
    sizes = summary["sizes"]
    sizes["pruned"].update(export_lib.model_sizes(pruned_dir))
    with tempfile.TemporaryDirectory() as tmp:
        plain = keras.models.clone_model(model)
        plain.set_weights(model.get_weights())
        export_lib.export_saved_model(plain, os.path.join(tmp, "saved_model"))
        unpruned = export_lib.model_sizes(tmp)
    for key in ("saved_model_bytes", "saved_model_deflated_bytes"):
        sizes["unpruned"][key] = unpruned[key]
    for key in ("keras_deflated_bytes", "saved_model_deflated_bytes"):
        sizes["pruned_over_unpruned"][key] = (
            sizes["pruned"][key] / sizes["unpruned"][key]
        )
    sizes["saved_models_added_by"] = (
        "docs/results/cifar100-cct_4_3x2-andc/add_saved_models.py"
    )
    write_json(pruning_path, summary)
    print({k: sizes[k] for k in ("unpruned", "pruned", "pruned_over_unpruned")})


if __name__ == "__main__":
    main()
