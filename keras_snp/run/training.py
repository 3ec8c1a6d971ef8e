"""The train stage: fit under a distribution, with checkpoints to resume.

Resume is Keras's `BackupAndRestore` (weights, optimizer state, epoch and
the schedule position); the per-epoch metrics history lives in run.json and
is trimmed to the restored epoch, so it continues rather than restarts.
"""

import logging
import math
import os

import keras
import numpy as np

from keras_snp.training import recipe as recipe_lib
from keras_snp.utils import UsageError

logger = logging.getLogger(__name__)


class NonFiniteLoss(UsageError):
    """Training produced a NaN or Inf loss."""


class RunHistory(keras.callbacks.Callback):
    """Appends each epoch's metrics and learning rate to run.json."""

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        entry = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            entry[key] = float(np.asarray(value))
        entry["learning_rate"] = current_learning_rate(self.model.optimizer)
        history = [h for h in self.folder.state["history"]
                   if h["epoch"] <= epoch]
        self.folder.update(history=history + [entry])


class LearningRateLogger(keras.callbacks.Callback):
    """Puts the current learning rate into the epoch logs (TensorBoard)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model.optimizer)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops at the first NaN/Inf loss with a message naming the last good
    checkpoint (the backup of the last completed epoch is kept)."""

    def __init__(self, checkpoint_dir):
        super().__init__()
        self.checkpoint_dir = checkpoint_dir
        self.bad_batch = None

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and not np.isfinite(float(np.asarray(loss))):
            self.bad_batch = batch
            self.model.stop_training = True


def current_learning_rate(optimizer):
    # float() on a distributed variable fails under a strategy.
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def steps_per_epoch(info, global_batch_size, override=None):
    if override:
        return int(override)
    train_size = (info.split_sizes or {}).get("train")
    if not train_size:
        raise UsageError(
            "The training split size is unknown: pass --steps-per-epoch."
        )
    return max(1, math.ceil(train_size / global_batch_size))


def fit(model, folder, config, splits, placement, recipe, steps):
    """Trains `model` (compiled here) and returns the final epoch's logs."""
    checkpoint_dir = folder.sub("checkpoints", "backup")
    stop_on_nan = StopOnNonFiniteLoss(checkpoint_dir)
    with placement.scope():
        recipe_lib.compile_model(model, recipe, config.epochs, steps)
    callbacks = [
        RunHistory(folder),
        stop_on_nan,
        LearningRateLogger(),
    ]
    if folder.writer:
        callbacks.append(keras.callbacks.TensorBoard(
            log_dir=log_dir(folder), write_graph=False))
    callbacks.append(keras.callbacks.BackupAndRestore(
        checkpoint_dir, save_freq="epoch", delete_checkpoint=False))
    train = splits.train
    if config.steps_per_epoch:
        train = _repeat(train)
    model.fit(
        train,
        validation_data=splits.validation,
        epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch,
        callbacks=callbacks,
        verbose=config.verbose,
    )
    if stop_on_nan.bad_batch is not None:
        done = len(folder.state["history"])
        raise NonFiniteLoss(
            f"Training stopped: the loss became NaN/Inf in epoch {done + 1} "
            f"(batch {stop_on_nan.bad_batch}); the last good checkpoint is "
            f"{checkpoint_dir} (epoch {done}): lower --learning-rate and "
            "--resume."
        )
    return folder.state["history"][-1] if folder.state["history"] else {}


def _repeat(dataset):
    return dataset.repeat() if hasattr(dataset, "repeat") else dataset


def evaluate(model, dataset):
    """Test loss and accuracies of a compiled model."""
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    return {f"test_{k}": float(v) for k, v in results.items()}


def accuracy(model, dataset):
    """Top-1 accuracy of any (even uncompiled) model on `dataset`."""
    correct = total = 0
    for images, labels in dataset:
        logits = model.predict_on_batch(images)
        labels = np.asarray(labels)
        if labels.ndim == 2:
            labels = labels.argmax(-1)
        correct += int((np.asarray(logits).argmax(-1) == labels).sum())
        total += len(labels)
    return correct / max(total, 1)


def log_dir(folder, *parts):
    return os.path.join(folder.path, "logs", *parts)
