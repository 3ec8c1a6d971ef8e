"""The masked fine-tune: the training recipe itself, over a short run.

METHOD.md section 4: masks hold during a short fine-tune with the training
recipe (warm-up + cosine, weight-decay exclusions, label smoothing,
augmentation). Every row that is fine-tuned (the unpruned model, ANDC and
the controls) goes through `fine_tune` with one `FineTune`, and each call
returns a record of what it ran with, so a report can show they match.
"""

import dataclasses
import math

import keras

from keras_snp.settings import FineTune  # noqa: F401 (re-export)
from keras_snp.settings import default_fine_tune_epochs  # noqa: F401
from keras_snp.training import recipe as recipe_lib
from keras_snp.training.augmented import fit_batches

#: The recipe's schedule is asked for this many slices of the fine-tune, so
#: its "warm-up of a tenth of a short run" rule gives a warm-up over the
#: first tenth of the fine-tune, then a cosine over the rest.
SCHEDULE_SLICES = 10


def make_recipe(settings):
    """The training recipe of a `FineTune`, its warm-up included."""
    overrides = {}
    if settings.warmup_epochs is not None:
        overrides["warmup_epochs"] = settings.warmup_epochs
    return recipe_lib.make_recipe(
        settings.recipe,
        settings.learning_rate,
        settings.weight_decay,
        **overrides,
    )


def _steps(data, settings):
    if settings.steps_per_epoch:
        return int(settings.steps_per_epoch)
    try:
        return max(1, len(data))
    except TypeError as error:
        raise ValueError(
            "The training split has no length: set `steps_per_epoch` of "
            "the `FineTune`."
        ) from error


def fine_tune(model, train_data, settings, verbose=0):
    """Fine-tunes `model` in place with the training recipe; masks hold.

    The model is compiled with the recipe's optimizer (AdamW, warm-up then
    cosine over the whole fine-tune, no decay on biases and norms), its
    loss and metrics, and fit on `train_data` (the
    training split) as training does: for the official recipe through the
    recipe's on-device augmentation (`augmented_for_recipe`, which also
    applies the label smoothing). `ANDCPrune`
    layers multiply by their mask in every step, and their pruned kernel
    entries are 0 with zero gradient, so they stay exactly 0.

    Args:
        model: a (masked) CCT.
        train_data: the training split: a `tf.data.Dataset` or a
            `keras.utils.PyDataset` of `(images, one-hot labels)`.
        settings: a `FineTune`.
        verbose: `fit` verbosity.

    Returns:
        A record `{settings, steps, optimizer, loss}` of what was run:
        equal records mean identical fine-tunes.

    Example:
    ```python
    record = fine_tune(pruned, splits.train, FineTune(epochs=1))
    ```
    """
    steps = _steps(train_data, settings)
    total = max(1, settings.epochs * steps)
    slice_steps = max(1, math.ceil(total / SCHEDULE_SLICES))
    recipe = make_recipe(settings)
    keras.utils.set_random_seed(settings.seed)
    # As training does (`run.fit`): the official recipe trains an
    # `AugmentedModel` (augmentation and label smoothing on the device)
    # around the bare model; other recipes train the model itself.
    trained = recipe_lib.augmented_for_recipe(
        model, recipe, settings.seed, crop=settings.device_crop
    )
    if trained is model:
        recipe_lib.compile_model(model, recipe, SCHEDULE_SLICES, slice_steps)
    else:
        # TensorFlow's image warp has no XLA kernel (as in `run.fit`).
        recipe_lib.compile_model(
            trained,
            recipe_lib.device_recipe(recipe),
            SCHEDULE_SLICES,
            slice_steps,
            jit_compile=keras.backend.backend() != "tensorflow",
        )
    optimizer = _plain(keras.optimizers.serialize(trained.optimizer))
    optimizer["config"].pop("name", None)  # a per-instance counter
    record = {
        "settings": dataclasses.asdict(settings),
        "recipe": dataclasses.asdict(recipe),
        "augmented_on_device": trained is not model,
        "steps": total,
        "optimizer": optimizer,
        "loss": _plain(keras.losses.serialize(trained.loss)),
    }
    if settings.epochs > 0:
        trained.fit(
            fit_batches(
                train_data, trained is not model, settings.steps_per_epoch
            ),
            epochs=settings.epochs,
            steps_per_epoch=settings.steps_per_epoch,
            verbose=verbose,
            shuffle=False,  # every split shuffles itself, seeded
        )
    return record


def _plain(value):
    """A JSON-friendly copy of a serialized Keras config."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)
