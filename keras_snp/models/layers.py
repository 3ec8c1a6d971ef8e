"""The small layers of a Compact Convolutional Transformer.

Every layer is backend-agnostic (`keras.ops` only) and serialisable in safe
mode, so a CCT saved as `.keras` loads with `keras.models.load_model` after
`import keras_snp`.
"""

import keras
import numpy as np
from keras import ops

from keras_snp.constants import CIFAR_MEAN
from keras_snp.constants import CIFAR_STD
from keras_snp.models.initializers import AbsoluteTruncatedNormal
from keras_snp.models.initializers import kaiming_normal
from keras_snp.models.variants import tokenizer_sizes
from keras_snp.utils import check_at_least


def _register(cls):
    return keras.saving.register_keras_serializable(package="keras_snp")(cls)


class _ShapePreserving(keras.layers.Layer):
    """A layer whose output has its input's shape."""

    def compute_output_shape(self, input_shape):
        return input_shape


@_register
class ImageNormalization(_ShapePreserving):
    """Maps RGB images in 0..255 to `(x / 255 - mean) / std`, per channel.

    The constants live in the config, not in weights, so the layer adds no
    parameters and a saved model takes raw 0..255 pixels.

    Args:
        mean: three channel means of images scaled to 0..1.
        std: three channel standard deviations of images scaled to 0..1.

    Example:
    >>> layer = ImageNormalization(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    >>> float(layer(np.full((1, 2, 2, 3), 255.0))[0, 0, 0, 0])
    1.0
    """

    def __init__(self, mean=CIFAR_MEAN, std=CIFAR_STD, **kwargs):
        super().__init__(**kwargs)
        mean, std = tuple(float(m) for m in mean), tuple(float(s) for s in std)
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(
                "`mean` and `std` must hold three values, `std` positive. "
                f"Received: mean={mean}, std={std}"
            )
        self.mean, self.std = mean, std

    def call(self, images):
        images = ops.cast(images, self.compute_dtype)
        # Constants in the compute dtype: a float32 numpy constant would
        # promote bfloat16 / float16 inputs to float32 on JAX.
        scale = ops.cast(
            1.0 / (np.asarray(self.std) * 255.0), self.compute_dtype
        )
        offset = ops.cast(np.asarray(self.mean) * 255.0, self.compute_dtype)
        return (images - offset) * scale

    def get_config(self):
        return {**super().get_config(), "mean": self.mean, "std": self.std}


@_register
class ConvTokenizer(keras.layers.Layer):
    """The CCT tokenizer: `num_convs` x (Conv, ReLU, MaxPool), then tokens.

    As in the official code: kernel `k`, stride `max(1, k // 2 - 1)`, zero
    padding `max(1, k // 2)`, no bias, max-pool 3 / stride 2 / padding 1,
    intermediate width 64.

    Args:
        embed_dim: channels of the last conv, i.e. the token width.
        kernel_size: conv kernel size.
        num_convs: number of conv blocks.
        intermediate_dim: channels of the inner convs.

    Call arguments:
        images: `(batch, height, width, channels)`.

    Returns:
        Tokens `(batch, tokens, embed_dim)`.

    Example:
    >>> tokenizer = ConvTokenizer(embed_dim=8, kernel_size=3)
    >>> ops.shape(tokenizer(np.zeros((1, 8, 8, 3))))
    (1, 16, 8)
    """

    def __init__(
        self,
        embed_dim,
        kernel_size=3,
        num_convs=1,
        intermediate_dim=64,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_at_least("num_convs", num_convs, 1)
        check_at_least("kernel_size", kernel_size, 1)
        self.embed_dim = int(embed_dim)
        self.kernel_size = int(kernel_size)
        self.num_convs = int(num_convs)
        self.intermediate_dim = int(intermediate_dim)
        self.stride = max(1, self.kernel_size // 2 - 1)
        self.padding = max(1, self.kernel_size // 2)
        widths = [self.intermediate_dim] * (self.num_convs - 1)
        self.convs = [
            keras.layers.Conv2D(
                width,
                self.kernel_size,
                strides=self.stride,
                use_bias=False,
                kernel_initializer=kaiming_normal(),
                dtype=self.dtype_policy,
                name=f"conv_{i + 1}",
            )
            for i, width in enumerate(widths + [self.embed_dim])
        ]

    @staticmethod
    def _pad(x, amount):
        return ops.pad(x, [[0, 0], [amount, amount], [amount, amount], [0, 0]])

    def output_grid(self, height, width):
        """The token grid `(rows, cols)` for an input of this size."""
        rows = tokenizer_sizes(height, self.kernel_size, self.num_convs)
        cols = tokenizer_sizes(width, self.kernel_size, self.num_convs)
        return rows[-1][1], cols[-1][1]

    def build(self, input_shape):
        shape = list(input_shape)
        for conv in self.convs:
            padded = [shape[0], None, None, shape[3]]
            conv.build(padded)
            shape = [shape[0], None, None, conv.filters]

    def call(self, images):
        x = images
        for conv in self.convs:
            x = ops.relu(conv(self._pad(x, self.padding)))
            # Pad with -inf so the max-pool padding never wins, as in torch.
            x = ops.pad(
                x, [[0, 0], [1, 1], [1, 1], [0, 0]], constant_values=-np.inf
            )
            x = ops.max_pool(x, pool_size=3, strides=2, padding="valid")
        batch = ops.shape(x)[0]
        return ops.reshape(x, (batch, -1, self.embed_dim))

    def compute_output_shape(self, input_shape):
        rows, cols = input_shape[1], input_shape[2]
        if rows is None or cols is None:
            return (input_shape[0], None, self.embed_dim)
        rows, cols = self.output_grid(rows, cols)
        return (input_shape[0], rows * cols, self.embed_dim)

    def get_config(self):
        return {
            **super().get_config(),
            "embed_dim": self.embed_dim,
            "kernel_size": self.kernel_size,
            "num_convs": self.num_convs,
            "intermediate_dim": self.intermediate_dim,
        }


def sine_position_table(num_tokens, embed_dim):
    """The official CCT sinusoidal table, `(1, num_tokens, embed_dim)`."""
    positions = np.arange(num_tokens, dtype="float64")[:, None]
    exponent = 2 * (np.arange(embed_dim) // 2) / embed_dim
    table = positions / (10000.0**exponent)[None, :]
    table[:, 0::2] = np.sin(table[:, 0::2])
    table[:, 1::2] = np.cos(table[:, 1::2])
    return table[None].astype("float32")


@_register
class PositionEmbedding(_ShapePreserving):
    """Adds a learnable (trunc-normal, std 0.2) or fixed sine embedding.

    Args:
        kind: `"learnable"` (a weight) or `"sine"` (a constant, no weight).

    Call arguments:
        tokens: `(batch, tokens, dim)` with a known token count.

    Returns:
        `tokens + embedding`, same shape.

    Example:
    >>> ops.shape(PositionEmbedding("sine")(np.zeros((2, 4, 6))))
    (2, 4, 6)
    """

    def __init__(self, kind="learnable", **kwargs):
        super().__init__(**kwargs)
        if kind not in ("learnable", "sine"):
            raise ValueError(
                f"`kind` must be 'learnable' or 'sine'. Received: kind={kind!r}"
            )
        self.kind = kind

    def build(self, input_shape):
        num_tokens, dim = input_shape[1], input_shape[2]
        if self.kind == "learnable":
            self.embedding = self.add_weight(
                name="embedding",
                shape=(1, num_tokens, dim),
                initializer=AbsoluteTruncatedNormal(stddev=0.2),
            )
        else:
            self.table = sine_position_table(num_tokens, dim)

    def call(self, tokens):
        table = self.embedding if self.kind == "learnable" else self.table
        return tokens + ops.cast(table, tokens.dtype)

    def get_config(self):
        return {**super().get_config(), "kind": self.kind}


@_register
class StochasticDepth(_ShapePreserving):
    """Drops the whole residual branch per sample with probability `rate`.

    The kept samples are scaled by `1 / (1 - rate)`; in inference the layer
    is the identity.

    Args:
        rate: drop probability in [0, 1).
        seed: optional integer seed.

    Example:
    >>> ops.shape(StochasticDepth(0.5)(np.ones((2, 3)), training=False))
    (2, 3)
    """

    def __init__(self, rate=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"`rate` must be in [0, 1). Received: rate={rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        keep = 1.0 - self.rate
        shape = [ops.shape(inputs)[0]] + [1] * (len(inputs.shape) - 1)
        noise = keras.random.uniform(
            shape, seed=self.seed_generator, dtype=inputs.dtype
        )
        return inputs * ops.floor(keep + noise) / keep

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


@_register
class SequencePooling(keras.layers.Layer):
    """CCT sequence pooling: a softmax over tokens of a `Dense(1)` score.

    Call arguments:
        tokens: `(batch, tokens, dim)`.

    Returns:
        `(batch, dim)`: the attention-weighted mean of the tokens.

    Example:
    >>> ops.shape(SequencePooling()(np.ones((2, 4, 6))))
    (2, 6)
    """

    def build(self, input_shape):
        self.kernel = self.add_weight(
            name="kernel",
            shape=(input_shape[-1], 1),
            initializer=AbsoluteTruncatedNormal(stddev=0.02),
        )
        self.bias = self.add_weight(
            name="bias", shape=(1,), initializer="zeros"
        )

    def call(self, tokens):
        scores = ops.matmul(tokens, self.kernel) + self.bias
        weights = ops.softmax(ops.cast(scores, "float32"), axis=1)
        weights = ops.cast(weights, tokens.dtype)
        pooled = ops.matmul(ops.transpose(weights, (0, 2, 1)), tokens)
        return ops.squeeze(pooled, axis=1)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])
