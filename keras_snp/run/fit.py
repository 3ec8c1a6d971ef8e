"""The train stage: fit under a distribution, with checkpoints to resume.

Resume is `AtomicBackupAndRestore` (weights, optimizer state, epoch and
so the schedule position); the per-epoch metrics history lives in run.json
and is trimmed to the restored epoch, so it continues rather than restarts.
"""

import glob
import logging
import os

import keras
import numpy as np

from keras_snp import data as data_lib
from keras_snp.run.learned import good_checkpoint
from keras_snp.training import recipe as recipe_lib
from keras_snp.training.augmented import fit_batches
from keras_snp.utils import UsageError
from keras_snp.utils import atomic_path
from keras_snp.utils import check_free_space
from keras_snp.utils import corrupt_file
from keras_snp.utils import read_json
from keras_snp.utils import tensorflow_available
from keras_snp.utils import weights_bytes
from keras_snp.utils import write_json

logger = logging.getLogger(__name__)


class NonFiniteLoss(UsageError):
    """Training produced a NaN or Inf loss."""


def _finite_loss(logs):
    loss = (logs or {}).get("loss")
    return loss is None or bool(np.isfinite(float(np.asarray(loss))))


def _finite_weights(model):
    return all(
        bool(np.isfinite(keras.ops.convert_to_numpy(v.value)).all())
        for v in model.trainable_variables
    )


class AtomicBackupAndRestore(keras.callbacks.Callback):
    """`BackupAndRestore` whose checkpoint is never seen half-written.

    Keras's `BackupAndRestore` overwrites `latest.weights.h5` in place and
    then `training_metadata.json`: a kill in between leaves weights of one
    epoch with the epoch number of another, or a truncated file. Here each
    epoch's weights (model and optimizer, so the schedule position) go to a
    new `epoch_{N}.weights.h5` through a temporary name, and only then the
    pointer `checkpoint.json` (`{"epoch": N, "weights": ...}`) is replaced
    atomically; older weight files are removed afterwards. An epoch whose
    loss is NaN/Inf is not saved: the last good checkpoint stays.

    Args:
        backup_dir: where this process writes its checkpoints.
        restore_dir: where to read the checkpoint to resume from (default
            `backup_dir`; a non-chief worker reads the chief's).

    Example:

    ```python
    model.fit(x, y, epochs=5,
              callbacks=[AtomicBackupAndRestore("/tmp/run/backup")])
    ```
    """

    POINTER = "checkpoint.json"

    def __init__(self, backup_dir, restore_dir=None):
        super().__init__()
        if not backup_dir:
            raise ValueError(
                "`backup_dir` must be a folder path. "
                f"Received: backup_dir={backup_dir!r}"
            )
        self.backup_dir = os.fspath(backup_dir)
        self.restore_dir = os.fspath(restore_dir or backup_dir)
        self.saved_epoch = 0

    @classmethod
    def read_pointer(cls, directory):
        """The `checkpoint.json` of `directory`, or None."""
        path = os.path.join(directory, cls.POINTER)
        if not os.path.isfile(path):
            return None
        pointer = read_json(path)
        if not (
            isinstance(pointer, dict)
            and isinstance(pointer.get("epoch"), int)
            and isinstance(pointer.get("weights"), str)
        ):
            raise corrupt_file(path, "no epoch and weights file")
        return pointer

    def resume_epoch(self):
        """The epoch to resume after (0: start afresh); pass it to
        `fit(initial_epoch=...)`, the public way to continue a run."""
        pointer = self.read_pointer(self.restore_dir)
        return int(pointer["epoch"]) if pointer else 0

    def on_train_begin(self, logs=None):
        pointer = self.read_pointer(self.restore_dir)
        if pointer is None:
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        weights = os.path.join(self.restore_dir, pointer["weights"])
        try:
            self.model.load_weights(weights)
        except Exception as error:  # h5 errors of a damaged file
            raise UsageError(
                f"Cannot restore the checkpoint {weights} "
                f"({type(error).__name__}): delete {self.restore_dir} to "
                "restart training, or resume from a copy."
            ) from error
        self.saved_epoch = int(pointer["epoch"])
        logger.info("resumed from the checkpoint of epoch %d", self.saved_epoch)

    def on_epoch_end(self, epoch, logs=None):
        if not _finite_loss(logs) or not _finite_weights(self.model):
            logger.warning("epoch %d: NaN/Inf, checkpoint not saved", epoch + 1)
            return
        os.makedirs(self.backup_dir, exist_ok=True)
        check_free_space(
            self.backup_dir, weights_bytes(self.model), "a checkpoint"
        )
        name = f"epoch_{epoch + 1}.weights.h5"
        with atomic_path(os.path.join(self.backup_dir, name)) as tmp:
            self.model.save_weights(tmp)
        write_json(
            os.path.join(self.backup_dir, self.POINTER),
            {"epoch": epoch + 1, "weights": name},
        )
        self.saved_epoch = epoch + 1
        for old in glob.glob(
            os.path.join(self.backup_dir, "epoch_*.weights.h5")
        ):
            if os.path.basename(old) != name:
                os.remove(old)


class RunHistory(keras.callbacks.Callback):
    """Appends each epoch's metrics and learning rate to run.json.

    An epoch with a NaN/Inf loss is not recorded (its weights are not
    checkpointed either).
    """

    def __init__(self, folder):
        super().__init__()
        self.folder = folder

    def on_epoch_end(self, epoch, logs=None):
        if not _finite_loss(logs):
            return
        entry = {"epoch": epoch + 1}
        for key, value in (logs or {}).items():
            entry[key] = float(np.asarray(value))
        entry["learning_rate"] = current_learning_rate(self.model.optimizer)
        history = [
            h for h in self.folder.state["history"] if h["epoch"] <= epoch
        ]
        self.folder.update(history=history + [entry])


class LearningRateLogger(keras.callbacks.Callback):
    """Puts the current learning rate into the epoch logs (TensorBoard)."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["learning_rate"] = current_learning_rate(self.model.optimizer)


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops after the first epoch whose loss is NaN/Inf, with a message
    naming the last good checkpoint (the backup of the last completed
    epoch is kept).

    The check reads the epoch's mean loss once per epoch: reading it after
    every batch would sync the device on every step.
    """

    def __init__(self):
        super().__init__()
        self.bad_epoch = None

    def on_train_begin(self, logs=None):
        self.bad_epoch = None

    def on_epoch_end(self, epoch, logs=None):
        if not _finite_loss(logs):
            self.bad_epoch = epoch + 1
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
    # The pipeline drops the last partial training batch (but keeps a
    # training set smaller than one batch).
    return max(
        1,
        data_lib.steps_per_epoch(
            train_size, global_batch_size, drop_remainder=True
        ),
    )


def fit(
    model, folder, config, splits, placement, recipe, steps, extra_callbacks=()
):
    """Trains `model` (compiled here) and returns the final epoch's logs."""
    checkpoint_dir = folder.sub("checkpoints", "backup")
    backup = AtomicBackupAndRestore(
        checkpoint_dir, folder.read_path("checkpoints", "backup")
    )
    stop_on_nan = StopOnNonFiniteLoss()
    per_call = (
        getattr(config, "steps_per_execution", None)
        or recipe_lib.default_steps_per_execution()
    )
    with placement.scope():
        # The bare model is compiled for `evaluate`; the model that fits
        # may wrap it with the official recipe's device augmentation.
        trained = recipe_lib.augmented_for_recipe(
            model,
            recipe,
            config.seed,
            crop=not splits.info.whole_image_crop,
        )
        recipe_lib.compile_model(
            model,
            recipe,
            config.epochs,
            steps,
            jit_compile=recipe_lib.default_jit_compile(),
            steps_per_execution=per_call if trained is model else 1,
        )
        if trained is not model:
            recipe_lib.compile_model(
                trained,
                recipe_lib.device_recipe(recipe),
                config.epochs,
                steps,
                jit_compile=_jit_for_augmented(),
                steps_per_execution=per_call,
            )
    placement.prepare_model(trained)
    callbacks = [
        RunHistory(folder),
        stop_on_nan,
        LearningRateLogger(),
    ]
    if folder.writer and tensorflow_available():
        callbacks.append(
            keras.callbacks.TensorBoard(
                log_dir=log_dir(folder), write_graph=False
            )
        )
    callbacks.extend(_on_backbone(c, model) for c in extra_callbacks)
    callbacks.append(backup)
    trained.fit(
        fit_batches(splits.train, trained is not model, config.steps_per_epoch),
        validation_data=splits.validation,
        epochs=recipe_lib.total_epochs(recipe, config.epochs),
        initial_epoch=backup.resume_epoch(),
        steps_per_epoch=config.steps_per_epoch,
        callbacks=callbacks,
        verbose=config.verbose,
        shuffle=False,  # every split shuffles itself, seeded
    )
    if stop_on_nan.bad_epoch is not None:
        done = backup.saved_epoch
        good = folder.read_path("checkpoints", "backup")
        if good_checkpoint(folder.state["history"], done):
            where = (
                f"the last good checkpoint is {good} (epoch {done}): "
                "lower --learning-rate and --resume"
            )
        elif done:
            where = (
                f"no checkpoint is good (the last, epoch {done}, has a "
                "loss not below the first epoch's): lower --learning-rate "
                "and start again (--resume --redo train)"
            )
        else:
            where = (
                "no epoch finished, so no checkpoint was "
                "kept: lower --learning-rate and start again"
            )
        raise NonFiniteLoss(
            "Training stopped: the loss became NaN/Inf in epoch "
            f"{stop_on_nan.bad_epoch}; {where}."
        )
    return folder.state["history"][-1] if folder.state["history"] else {}


def _jit_for_augmented():
    # TensorFlow's image warp (ImageProjectiveTransformV3) has no XLA
    # kernel, so the augmented step runs as a plain graph there; JAX
    # always compiles with XLA.
    return keras.backend.backend() != "tensorflow"


def _on_backbone(callback, backbone):
    """Points a callback that reads layers (SNP) at the bare backbone, even
    when `fit` runs on the augmenting wrapper."""
    set_model = callback.set_model

    def set_backbone(_model):
        set_model(backbone)

    callback.set_model = set_backbone
    return callback


def evaluate(model, dataset):
    """Test loss and accuracies of a compiled model."""
    results = model.evaluate(dataset, verbose=0, return_dict=True)
    return {f"test_{k}": float(v) for k, v in results.items()}


def log_dir(folder, *parts):
    return os.path.join(folder.path, "logs", *parts)
