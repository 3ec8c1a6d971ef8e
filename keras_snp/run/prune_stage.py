"""The pruning stage: masks -> masked fine-tune -> strip -> shrink -> export.

The stage compares ANDC with its controls (METHOD.md section 4) and writes
`pruning.json`, `model.keras` (the shrunken model) and, through `export_fn`,
the SavedModel, into the folder it is given (`<run>/pruned/`).
"""

import logging
import os

import keras
import numpy as np
from keras import ops

from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.andc import magnitude_masks
from keras_snp.pruning.andc import prune
from keras_snp.pruning.andc import random_masks
from keras_snp.pruning.shrink import count_flops
from keras_snp.pruning.shrink import shrink
from keras_snp.snp.readout import int_labels
from keras_snp.utils import atomic_path
from keras_snp.utils import write_json

logger = logging.getLogger(__name__)

ROWS = {
    "unpruned": "the trained model",
    "andc_masked": "ANDC masks, before fine-tuning",
    "andc_fine_tuned": "ANDC masks, after fine-tuning",
    "random_fine_tuned": "random masks, same kept connections per node, "
                         "after the same fine-tuning",
    "magnitude_fine_tuned": "largest |w| per layer at the ANDC sparsity, "
                            "after the same fine-tuning",
}


def accuracy(model, data):
    """Top-1 accuracy of `model` over batches `(images, labels)`.

    Labels are one-hot `(B, K)` or integers `(B,)`; inference mode.
    """
    return float(correctness(model, data).mean())


def correctness(model, data):
    """Per-example top-1 correctness `(n,)` bool, in the data's order."""
    hits = []
    for images, labels in data:
        logits = ops.convert_to_numpy(model.predict_on_batch(images))
        hits.append(logits.argmax(-1) == int_labels(ops.convert_to_numpy(labels)))
    if not hits:
        raise ValueError("`data` yielded no batch: cannot measure accuracy.")
    return np.concatenate(hits)


class _Batches(keras.utils.PyDataset):
    """A list of `(images, labels)` batches as a re-iterable PyDataset."""

    def __init__(self, batches):
        super().__init__()
        self.batches = batches

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        images, labels = self.batches[index]
        return ops.convert_to_numpy(images), ops.convert_to_numpy(labels)


def _fit_data(data):
    """`(data for fit, labels are one-hot)`; tf.data passes through."""
    if hasattr(data, "element_spec"):
        labels = data.element_spec[1]
        return data, len(labels.shape) == 2
    batches = list(data)
    if not batches:
        raise ValueError("`train_data` yielded no batch.")
    return _Batches(batches), ops.convert_to_numpy(batches[0][1]).ndim == 2


def fine_tune(model, train_data, epochs, learning_rate=1e-4,
              weight_decay=0.05, seed=0, verbose=0, run_eagerly=False):
    """Masked fine-tune with AdamW; cross-entropy on logits. In place."""
    if epochs <= 0:
        return model
    data, one_hot = _fit_data(train_data)
    loss = (keras.losses.CategoricalCrossentropy(from_logits=True) if one_hot
            else keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate, weight_decay),
        loss=loss,
        run_eagerly=run_eagerly,
    )
    model.fit(data, epochs=epochs, verbose=verbose)
    return model


def _layer_table(model, masks, random, magnitude, small):
    table = {}
    for name, mask in masks.items():
        total = int(mask.size)
        kept = int(np.count_nonzero(mask))
        table[name] = {
            "kept": kept,
            "total": total,
            "dilution": 1.0 - kept / total,
            "kept_per_node": np.asarray(mask).sum(axis=1).tolist(),
            "random_kept": int(np.count_nonzero(random[name])),
            "magnitude_kept": int(np.count_nonzero(magnitude[name])),
        }
    for layer in model.layers:
        if not layer.weights:
            continue
        new = small.get_layer(layer.name)
        if layer.count_params() != new.count_params() or layer.name in masks:
            entry = table.setdefault(layer.name, {})
            entry["params_before"] = int(layer.count_params())
            entry["params_after"] = int(new.count_params())
    return table


def accuracy_markdown(summary):
    """The accuracy table of a `run_pruning` summary, as markdown."""
    lines = ["| model | accuracy | sparsity | what |",
             "| --- | --- | --- | --- |"]
    for row in summary["accuracy_table"]:
        lines.append(
            f"| {row['name']} | {row['accuracy']:.4f} | "
            f"{row['sparsity']:.4f} | {row['description']} |")
    return "\n".join(lines)


def run_pruning(model, snp_result, train_data, test_data, out_dir, *,
                scope="all", theta=None, fine_tune_epochs=1,
                learning_rate=1e-4, weight_decay=0.05, seed=0,
                log_dir=None, export_fn=None, verbose=0, run_eagerly=False):
    """ANDC-prunes a trained CCT, compares it with controls, exports it.

    Steps: ANDC masks from `snp_result`; the same fine-tune (AdamW,
    `fine_tune_epochs`, masks held every step) for ANDC, a random mask with
    the same kept connections per node, and magnitude pruning at the same
    per-layer sparsity; then the ANDC model is stripped, shrunk and saved.

    Args:
        model: the trained CCT (left unchanged).
        snp_result: its `SNPResult`.
        train_data, test_data: iterables of `(images, labels)` batches,
            labels one-hot or int (a tf.data.Dataset is passed to `fit`).
        out_dir: the folder to write (`<run>/pruned`): `pruning.json`,
            `model.keras` (the shrunken model) and what `export_fn` writes.
        scope: `"readout"`, `"internal"` or `"all"`.
        theta: SNP threshold (default: the result's).
        fine_tune_epochs: epochs of masked fine-tuning (0 skips it).
        learning_rate, weight_decay: AdamW settings of the fine-tune.
        seed: seed of the random control and of every fine-tune.
        log_dir: TensorBoard folder (`<run>/logs/pruning`), or None.
        export_fn: `export_fn(model, out_dir)` writing the SavedModel
            (e.g. `keras_snp.run.export.export_model`), or None.
        verbose: `fit` verbosity.
        run_eagerly: fine-tune without compiling the train step (faster
            for a few tiny batches, slower for real data).

    Returns:
        The `pruning.json` dictionary: `accuracy` (row -> accuracy),
        `accuracy_table`, `layers` (kept connections, dilution, parameters
        per layer), `params`, `flops`, `shrink` (units and heads removed).

    Example:
    ```python
    summary = run_pruning(model, snp_result, splits.train, splits.test,
                          "saved_models/run/pruned", fine_tune_epochs=1)
    summary["accuracy"]["andc_fine_tuned"]
    ```
    """
    theta = snp_result.theta if theta is None else theta
    test_batches = test_data if hasattr(test_data, "element_spec") else list(
        test_data)
    masks = connection_masks(model, snp_result, theta, scope)
    controls = {
        "random": random_masks(masks, seed=seed),
        "magnitude": magnitude_masks(model, masks),
    }
    hits = {"unpruned": correctness(model, test_batches)}
    logger.info("Unpruned accuracy %.4f", hits["unpruned"].mean())
    andc = prune(model, masks=masks)
    hits["andc_masked"] = correctness(andc, test_batches)
    fine_tune(andc, train_data, fine_tune_epochs, learning_rate,
              weight_decay, seed, verbose, run_eagerly)
    hits["andc_fine_tuned"] = correctness(andc, test_batches)
    for name, control in controls.items():
        pruned = prune(model, masks=control)
        fine_tune(pruned, train_data, fine_tune_epochs, learning_rate,
                  weight_decay, seed, verbose, run_eagerly)
        hits[f"{name}_fine_tuned"] = correctness(pruned, test_batches)
        del pruned
    results = {name: float(h.mean()) for name, h in hits.items()}
    logger.info("Accuracies: %s", results)

    small, removed = shrink(andc, return_report=True)
    images = ops.convert_to_numpy(next(iter(test_batches))[0])
    difference = float(np.abs(
        ops.convert_to_numpy(andc.predict_on_batch(images))
        - ops.convert_to_numpy(small.predict_on_batch(images))).max())
    if difference > 1e-4:
        logger.warning("Shrunken model differs from the masked one by %g",
                       difference)

    kept = sum(int(np.count_nonzero(m)) for m in masks.values())
    total = sum(int(m.size) for m in masks.values())
    sparsity = 1.0 - kept / total
    summary = {
        "scope": scope,
        "theta": theta,
        "fine_tune": {"epochs": fine_tune_epochs,
                      "learning_rate": learning_rate,
                      "weight_decay": weight_decay, "seed": seed},
        "accuracy": results,
        "accuracy_table": [
            {"name": name, "description": ROWS[name],
             "accuracy": results[name],
             "sparsity": 0.0 if name == "unpruned" else sparsity}
            for name in ROWS
        ],
        "kept_connections": kept,
        "prunable_connections": total,
        "dilution": sparsity,
        "layers": _layer_table(model, masks, controls["random"],
                               controls["magnitude"], small),
        "params": {
            "before": int(model.count_params()),
            "nonzero_after_masking": int(model.count_params() - total + kept),
            "after": int(small.count_params()),
        },
        "flops": {
            "before": count_flops(model),
            "masked_sparse": count_flops(andc, sparse=True),
            "after": count_flops(small),
        },
        "shrink": {"removed": removed, "max_abs_difference": difference},
    }
    _write(small, summary, out_dir, export_fn)
    # Per-example correctness of every row, for bootstrap CIs over images.
    with atomic_path(os.path.join(out_dir, "predictions.npz")) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **{k: v.astype(bool) for k, v in hits.items()})
    if log_dir:
        _log(summary, log_dir)
    return summary


def _write(small, summary, out_dir, export_fn):
    os.makedirs(out_dir, exist_ok=True)
    keras_path = os.path.join(out_dir, "model.keras")
    if export_fn is not None:
        export_fn(small, out_dir)
    if export_fn is None or not os.path.exists(keras_path):
        with atomic_path(keras_path) as tmp:
            small.save(tmp)
    write_json(os.path.join(out_dir, "pruning.json"), summary)


def _log(summary, log_dir):
    from keras_snp.run import tensorboard

    scalars = {f"sparsity/{name}": entry["dilution"]
               for name, entry in summary["layers"].items()
               if "dilution" in entry}
    scalars.update({f"accuracy/{k}": v
                    for k, v in summary["accuracy"].items()})
    scalars["params/after"] = summary["params"]["after"]
    scalars["flops/after"] = summary["flops"]["after"]
    tensorboard.write_scalars(log_dir, scalars, step=0)
    tensorboard.write_text(log_dir, "accuracy_table",
                           accuracy_markdown(summary), step=0)
