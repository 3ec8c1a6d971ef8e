"""A training-only model: augmentation on the device, then the backbone.

`AugmentedModel` wraps a bare classifier for `fit` only. Training batches
arrive as `({"images": uint8, "labels": int or one-hot}, one-hot)`; the
model's `call` runs `OfficialAugment` (crop, RandAugment, erasing,
MixUp/CutMix, label smoothing) inside the compiled train step and hands
the mixed labels to `compute_loss`. Evaluation and prediction call the
backbone on unaugmented images. The backbone is the object to save,
export and analyse; the wrapper holds no weights of its own beyond the
augmentation's seed state.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_snp")
class AugmentedModel(keras.Model):
    """Trains `backbone` on batches augmented by `augment` in the step.

    Works with Keras's standard `train_step` on every backend: `call`
    returns `{"logits", "targets"}` when training (the targets are the
    augmentation's mixed, smoothed labels), and `compute_loss` and
    `compute_metrics` unpack it, so the compiled loss sees the mixed
    targets and the metrics the original labels. Compile it with a loss
    without label smoothing (the augmentation applies it, once).

    Args:
        backbone: a Keras model from images (0..255) to logits.
        augment: a layer called as `augment(images, labels, training=True)`
            returning `(images, soft_labels)`, e.g. `OfficialAugment`.

    Call arguments:
        inputs: a dict with `"images"` (and `"labels"` when training), or
            an image tensor.
        training: augment and return the training dict when true.

    Returns:
        the logits, or `{"logits", "targets"}` in training.

    Example:

    ```python
    backbone = keras_snp.build_cct("cct_2_3x2", num_classes=10,
                                   image_size=32)
    augment = OfficialAugment(num_classes=10, mean=CIFAR_MEAN,
                              std=CIFAR_STD, seed=0)
    model = AugmentedModel(backbone, augment)
    model.compile("adamw", keras.losses.CategoricalCrossentropy(
        from_logits=True), metrics=["accuracy"])
    model.fit({"images": x_uint8, "labels": y_onehot}, y_onehot)
    backbone.save("model.keras")
    ```
    """

    def __init__(self, backbone, augment, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(backbone, keras.Model):
            raise ValueError(
                "`backbone` must be a keras.Model. "
                f"Received: backbone={backbone!r}"
            )
        if not isinstance(augment, keras.layers.Layer):
            raise ValueError(
                "`augment` must be a keras Layer. "
                f"Received: augment={augment!r}"
            )
        self.backbone = backbone
        self.augment = augment

    def call(self, inputs, training=False):
        if isinstance(inputs, dict):
            images, labels = inputs["images"], inputs.get("labels")
        else:
            images, labels = inputs, None
        if training and labels is not None:
            # The batch reaches the augmentation as it came (uint8): it
            # works on uint8 and returns float32.
            images, targets = self.augment(images, labels, training=True)
            logits = self.backbone(images, training=True)
            return {"logits": logits, "targets": targets}
        images = ops.cast(images, "float32")
        return self.backbone(images, training=training)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if isinstance(y_pred, dict):
            y, y_pred = y_pred["targets"], y_pred["logits"]
        return super().compute_loss(
            x=x,
            y=y,
            y_pred=y_pred,
            sample_weight=sample_weight,
            training=training,
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if isinstance(y_pred, dict):
            y_pred = y_pred["logits"]
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        return {
            **super().get_config(),
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "augment": keras.saving.serialize_keras_object(self.augment),
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        backbone = keras.saving.deserialize_keras_object(config.pop("backbone"))
        augment = keras.saving.deserialize_keras_object(config.pop("augment"))
        return cls(backbone, augment, **config)


class _LabelInputs(keras.utils.PyDataset):
    """A `PyDataset` of `(images, labels)` served as
    `({"images", "labels"}, labels)`."""

    def __init__(self, split):
        super().__init__()
        self.split = split

    def __len__(self):
        return len(self.split)

    def __getitem__(self, index):
        images, labels = self.split[index]
        return {"images": images, "labels": labels}, labels

    def on_epoch_end(self):
        self.split.on_epoch_end()


def with_label_inputs(split):
    """`(images, labels)` batches -> `({"images", "labels"}, labels)`, the
    input `AugmentedModel` trains on (a `tf.data.Dataset` or a
    `keras.utils.PyDataset`)."""
    if hasattr(split, "map"):
        return split.map(lambda x, y: ({"images": x, "labels": y}, y))
    return _LabelInputs(split)


def fit_batches(split, augmented, steps_per_epoch=None):
    """The training split as `fit` takes it: in `with_label_inputs` form
    for an `AugmentedModel` (`augmented`), and repeated (a
    `tf.data.Dataset`; a `PyDataset` is left as is) where
    `steps_per_epoch` caps the epochs, so that no epoch runs dry."""
    if augmented:
        split = with_label_inputs(split)
    if steps_per_epoch and hasattr(split, "repeat"):
        split = split.repeat()
    return split
