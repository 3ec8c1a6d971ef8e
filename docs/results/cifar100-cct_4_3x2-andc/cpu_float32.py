"""A float32 copy of a run, with its own validation SNP and reference row,
ready for `sweep.py` on a CPU.

    python docs/results/cifar100-cct_4_3x2-andc/cpu_float32.py RUN OUT
    python docs/results/cifar100-cct_4_3x2-andc/sweep.py OUT --points ...

A run trained on a GPU in `mixed_bfloat16` fine-tunes about 3x slower on a
CPU than the same model in float32 (TF, 2 cores). This writes `OUT`, a run
folder with RUN's `run.json` and its weights cast to float32 (`model.keras`),
then, each step skipped when already there:

1. `pruned/snp_validation`: the validation SNP of every tap that the scopes
   `readout+ff+attn_proj` need (readouts trained on train, `V` on
   validation; the stage's `choose_masks`), with its arrays, for `sweep.py`;
2. `pruned/pruning.json` and `pruned/predictions.npz`: `unpruned` and
   `unpruned_fine_tuned` (the run's fine-tune, float32) with per-image test
   correctness, the reference that every sweep point is paired with.

Everything after it, sweep points included, is float32: a series of its
own, not to be mixed with RUN's `mixed_bfloat16` points (its masks come
from another SNP measurement and its fine-tunes from another precision).
"""

import argparse
import dataclasses
import os
import shutil
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
)
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

SCOPES = "readout+ff+attn_proj"


def float32_copy(model):
    import keras

    def as_float32(layer):
        return layer.__class__.from_config(
            {**layer.get_config(), "dtype": "float32"}
        )

    copy = keras.models.clone_model(model, clone_function=as_float32)
    copy.set_weights(model.get_weights())
    return copy


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument("out_dir")
    args = parser.parse_args(argv)

    from keras_snp.pruning.fine_tuning import fine_tune
    from keras_snp.run import export as export_lib
    from keras_snp.run.prune_run import load_context
    from keras_snp.run.prune_stage import _clone
    from keras_snp.run.prune_stage import choose_masks
    from keras_snp.run.prune_stage import correctness
    from keras_snp.run.prune_stage import settings_from_config
    from keras_snp.snp import SNPResult
    from keras_snp.utils import read_json
    from keras_snp.utils import write_json

    os.makedirs(args.out_dir, exist_ok=True)
    model_path = os.path.join(args.out_dir, "model.keras")
    if not os.path.isfile(model_path):
        source = load_context(args.run_dir).model
        shutil.copy(
            os.path.join(args.run_dir, "run.json"),
            os.path.join(args.out_dir, "run.json"),
        )
        export_lib.save_keras(float32_copy(source), model_path)
    ctx = load_context(args.out_dir)
    policies = {layer.dtype_policy.name for layer in ctx.model.layers}
    if policies != {"float32"}:
        raise SystemExit(f"{model_path} is not float32: {sorted(policies)}")
    settings = settings_from_config(ctx.config)
    out = os.path.join(args.out_dir, "pruned")
    snp_dir = os.path.join(out, "snp_validation")
    start = time.time()
    if not os.path.isfile(os.path.join(snp_dir, "snp.npz")):
        result, _ = choose_masks(
            ctx.model,
            ctx.snp_data()[0],
            ctx.snp_validation(),
            dataclasses.replace(settings, scope=SCOPES),
        )
        result.save(snp_dir)
        print(f"validation SNP: {time.time() - start:.0f} s", flush=True)
    SNPResult.load(snp_dir)
    summary_path = os.path.join(out, "pruning.json")
    if os.path.isfile(summary_path):
        return
    test = list(ctx.splits.test)
    hits = {"unpruned": correctness(ctx.model, test)}
    tuned = _clone(ctx.model)
    start = time.time()
    record = fine_tune(tuned, ctx.splits.train, settings.fine_tune)
    seconds = time.time() - start
    hits["unpruned_fine_tuned"] = correctness(tuned, test)
    np.savez(
        os.path.join(out, "predictions.npz"),
        **{k: v.astype(bool) for k, v in hits.items()},
    )
    write_json(
        summary_path,
        {
            "precision": "float32",
            "source_run": os.path.abspath(args.run_dir),
            "accuracy": {k: float(v.mean()) for k, v in hits.items()},
            "fine_tune": {
                **dataclasses.asdict(settings.fine_tune),
                "record": record,
                "seconds": seconds,
            },
        },
    )
    print(read_json(summary_path)["accuracy"], f"{seconds:.0f} s", flush=True)


if __name__ == "__main__":
    main()
