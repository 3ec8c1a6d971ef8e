"""Small separable data and a small CNN for the SNP tests."""

import keras
import numpy as np


def toy_batches(n=100, classes=5, size=16, batch=20, seed=0, onehot=False):
    """Noise images whose class sets the mean of one colour channel."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.uniform(0, 128, (n, size, size, 3)).astype("float32")
    for c in range(classes):
        x[y == c, :, :, c % 3] += 60 * (1 + c // 3)
    labels = np.eye(classes, dtype="float32")[y] if onehot else y
    return [
        (x[i : i + batch], labels[i : i + batch]) for i in range(0, n, batch)
    ]


def _concrete(x):
    """Whether `x` is a real value, not a symbolic / traced tensor."""
    if isinstance(x, keras.KerasTensor):
        return False
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.executing_eagerly()
    if keras.backend.backend() == "jax":
        import jax

        return not isinstance(x, jax.core.Tracer)
    return True


@keras.saving.register_keras_serializable(package="keras_snp_tests")
class Probe(keras.layers.Layer):
    """Identity that records the `training` flag of every concrete call."""

    calls = []

    def call(self, x, training=None):
        if _concrete(x):
            Probe.calls.append(training)
        return x


def small_cnn(classes=5, size=16, dropout=0.5, probe=False):
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(inputs)
    if probe:
        x = Probe(name="probe")(x)
    x = keras.layers.Conv2D(
        8, 3, padding="same", activation="relu", name="block_1"
    )(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(
        12, 3, padding="same", activation="relu", name="block_2"
    )(x)
    x = keras.layers.Dropout(dropout, name="drop")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(classes, name="classifier")(x)
    return keras.Model(inputs, outputs)
