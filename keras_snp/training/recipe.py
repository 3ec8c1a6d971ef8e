"""The training recipe: optimizer, learning-rate schedule, loss, metrics.

The official CCT recipe (METHOD.md section 5) is AdamW with a cosine
schedule after linear warm-up, and cross-entropy with label smoothing 0.1.
Settings travel as a frozen `Recipe`.
"""

import dataclasses

import keras

from keras_snp.utils import check_one_of

RECIPE_NAMES = ("official", "light", "none")


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Optimisation settings of one training run.

    Attributes:
        name: `"official"` (RandAugment, MixUp/CutMix, erasing, label
            smoothing) or `"light"` (flip + crop) or `"none"`: the data
            side lives in `keras_snp.data`.
        learning_rate: peak learning rate after warm-up.
        weight_decay: AdamW decoupled weight decay.
        warmup_epochs: linear warm-up length (shortened to a tenth of the
            run when the run is shorter than that).
        label_smoothing: for the cross-entropy.
        min_learning_rate: floor of the cosine schedule.
        cooldown_epochs: epochs trained after the cosine schedule, at
            `min_learning_rate` (timm's `--cooldown-epochs`; the official
            recipe's 10 after 300). Shortened to a thirtieth of the run
            when the run is shorter than that.
        epsilon: AdamW's epsilon (timm's and PyTorch's 1e-8 for the
            official recipe; Keras' 1e-7 otherwise).
        no_decay_names: variables whose name holds one of these are not
            weight-decayed. timm decays every parameter of two or more
            dimensions, the positional embedding included, and none of
            the biases and normalisation scales.
    """

    name: str = "official"
    learning_rate: float = 6e-4
    weight_decay: float = 6e-2
    warmup_epochs: int = 10
    label_smoothing: float = 0.1
    min_learning_rate: float = 1e-5
    cooldown_epochs: int = 0
    epsilon: float = 1e-7
    no_decay_names: tuple = ("bias", "gamma", "beta")

    def __post_init__(self):
        check_one_of("recipe", self.name, RECIPE_NAMES)
        if self.learning_rate <= 0:
            raise ValueError(
                "`learning_rate` must be positive. "
                f"Received: learning_rate={self.learning_rate}"
            )


def make_recipe(name, learning_rate=None, weight_decay=None, **overrides):
    """A `Recipe` by name; light and none use no label smoothing, no
    cool-down and Keras' AdamW epsilon."""
    official = name == "official"
    settings = {
        "name": name,
        "label_smoothing": 0.1 if official else 0.0,
        "cooldown_epochs": 10 if official else 0,
        "epsilon": 1e-8 if official else 1e-7,
    }
    if learning_rate is not None:
        settings["learning_rate"] = learning_rate
    if weight_decay is not None:
        settings["weight_decay"] = weight_decay
    settings.update(overrides)
    return Recipe(**settings)


def learning_rate_schedule(recipe, epochs, steps_per_epoch):
    """Cosine decay over the run after a linear warm-up, per step."""
    total = max(1, epochs * steps_per_epoch)
    warmup_epochs = min(recipe.warmup_epochs, max(0, epochs // 10))
    warmup = warmup_epochs * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warmup else recipe.learning_rate,
        decay_steps=max(1, total - warmup),
        alpha=recipe.min_learning_rate / recipe.learning_rate,
        warmup_target=recipe.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def cooldown_epochs(recipe, epochs):
    """Epochs at the floor learning rate after a cosine of `epochs`."""
    return min(recipe.cooldown_epochs, max(0, epochs // 30))


def total_epochs(recipe, epochs):
    """Epochs `fit` runs: the cosine's `epochs` plus the cool-down."""
    return epochs + cooldown_epochs(recipe, epochs)


def make_optimizer(recipe, epochs, steps_per_epoch):
    """AdamW on the recipe's schedule; biases and norms not decayed.

    The cosine runs over `epochs`; Keras' `CosineDecay` stays at its floor
    after that, which is the cool-down's learning rate."""
    optimizer = keras.optimizers.AdamW(
        learning_rate=learning_rate_schedule(recipe, epochs, steps_per_epoch),
        weight_decay=recipe.weight_decay,
        epsilon=recipe.epsilon,
    )
    optimizer.exclude_from_weight_decay(var_names=list(recipe.no_decay_names))
    return optimizer


def make_loss(recipe):
    """Cross-entropy from logits on one-hot (possibly mixed) labels."""
    return keras.losses.CategoricalCrossentropy(
        from_logits=True, label_smoothing=recipe.label_smoothing
    )


def make_metrics():
    return [
        keras.metrics.CategoricalAccuracy(name="accuracy"),
        keras.metrics.TopKCategoricalAccuracy(k=5, name="top5_accuracy"),
    ]


def compile_model(
    model,
    recipe,
    epochs,
    steps_per_epoch,
    jit_compile="auto",
    steps_per_execution=1,
):
    """Compiles `model` with the recipe (call inside a strategy scope)."""
    model.compile(
        optimizer=make_optimizer(recipe, epochs, steps_per_epoch),
        loss=make_loss(recipe),
        metrics=make_metrics(),
        jit_compile=jit_compile,
        steps_per_execution=steps_per_execution,
    )
    return model


def default_jit_compile():
    """`True` (XLA) with an accelerator, else `"auto"`.

    Under a `tf.distribute` strategy Keras reads `"auto"` as no XLA, so on
    GPUs it is asked for explicitly. On a CPU XLA measured slower here, so
    Keras decides.
    """
    return True if default_steps_per_execution() > 1 else "auto"


def default_steps_per_execution():
    """8 train steps per device call on an accelerator, 1 on a CPU."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return 8 if jax.default_backend() != "cpu" else 1
    try:
        import tensorflow as tf
    except ImportError:
        return 1
    return 8 if tf.config.list_physical_devices("GPU") else 1


def augmented_for_recipe(model, recipe, seed=0, crop=True):
    """The model to `fit`: `model` itself, or for the official recipe an
    `AugmentedModel` that augments on the device (compile it with
    `device_recipe(recipe)`: the augmentation smooths the labels). `crop`
    False: the data already hold the random-resized crop (drawn on the
    host from the whole image, `DatasetInfo.whole_image_crop`)."""
    if recipe.name != "official":
        return model
    from keras_snp.training.augment import OfficialAugment
    from keras_snp.training.augmented import AugmentedModel

    norm = model.get_layer("normalize")
    augment = OfficialAugment(
        num_classes=int(model.output_shape[-1]),
        mean=norm.mean,
        std=norm.std,
        label_smoothing=recipe.label_smoothing,
        crop=crop,
        seed=seed,
    )
    return AugmentedModel(model, augment, name="augmented")


def device_recipe(recipe):
    """`recipe` with the loss's label smoothing off when the device
    augmentation already smooths (official)."""
    if recipe.name != "official":
        return recipe
    return dataclasses.replace(recipe, label_smoothing=0.0)
