"""Per-head self-attention: the CCT's MHA core, whose output is a tap.

The output keeps every head's values apart, before the output projection,
so each unit belongs to exactly one head (METHOD.md section 1).
"""

import math

import keras
import numpy as np
from keras import ops

from keras_snp.models.layers import _register
from keras_snp.utils import check_one_of

ATTENTION_IMPLEMENTATIONS = ("auto", "fused", "explicit")
SOFTMAX_DTYPES = ("float32", "compute")


@_register
class PerHeadAttention(keras.layers.Layer):
    """Scaled dot-product self-attention that returns per-head outputs.

    It takes the packed `qkv` projection and returns the heads' outputs
    concatenated *before* the output projection, so every output unit
    belongs to exactly one head. Head `h` owns `key_dim` query and key
    columns and `value_dims[h]` value columns; the value widths may differ
    after pruning.

    Args:
        num_heads: number of heads.
        key_dim: query / key width per head.
        value_dims: value width per head (default `key_dim` for every head).
        dropout: dropout rate on the attention weights.
        implementation: `"auto"` (default), `"fused"` or `"explicit"`.
            `"fused"` calls `keras.ops.dot_product_attention` (cuDNN / flash
            kernels on a GPU); it needs equal value widths (`value_dims`
            all `key_dim`) and no active attention dropout, and falls back
            to the explicit softmax otherwise. `"auto"` is `"fused"` on the
            JAX and PyTorch backends and `"explicit"` on TensorFlow, where
            the op is a plain einsum anyway. Outputs are the same either
            way, up to rounding.
        softmax_dtype: dtype of the explicit softmax: `"float32"` (default,
            as PyTorch autocast) or `"compute"` (the layer's compute dtype,
            as `keras.layers.MultiHeadAttention`; under `mixed_bfloat16`
            this halves the memory traffic of the attention weights).

    Call arguments:
        qkv: `(batch, tokens, 2 * num_heads * key_dim + sum(value_dims))`,
            laid out as all queries, all keys, then all values.

    Returns:
        `(batch, tokens, sum(value_dims))`.

    Example:
    >>> layer = PerHeadAttention(num_heads=2, key_dim=4)
    >>> ops.shape(layer(np.zeros((1, 5, 24))))
    (1, 5, 8)
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        value_dims=None,
        dropout=0.0,
        seed=None,
        implementation="auto",
        softmax_dtype="float32",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if num_heads < 1 or key_dim < 1:
            raise ValueError(
                "`num_heads` and `key_dim` must be >= 1. "
                f"Received: num_heads={num_heads}, key_dim={key_dim}"
            )
        value_dims = value_dims or [key_dim] * num_heads
        if len(value_dims) != num_heads or min(value_dims) < 1:
            raise ValueError(
                "`value_dims` must hold one positive width per head. "
                f"Received: value_dims={value_dims}, num_heads={num_heads}"
            )
        check_one_of(
            "implementation", implementation, ATTENTION_IMPLEMENTATIONS
        )
        check_one_of("softmax_dtype", softmax_dtype, SOFTMAX_DTYPES)
        self.implementation = implementation
        self.softmax_dtype = softmax_dtype
        self.num_heads = int(num_heads)
        self.key_dim = int(key_dim)
        self.value_dims = [int(v) for v in value_dims]
        self.dropout = float(dropout)
        self.seed = seed
        self.dropout_layer = keras.layers.Dropout(
            self.dropout, seed=seed, dtype=self.dtype_policy
        )

    @property
    def head_of_node(self):
        """`(sum(value_dims),)` ints: the head each output unit belongs to."""
        return np.repeat(np.arange(self.num_heads), self.value_dims)

    def _use_fused(self, training):
        implementation = self.implementation
        if implementation == "auto":
            backend = keras.backend.backend()
            implementation = "explicit" if backend == "tensorflow" else "fused"
        if implementation != "fused":
            return False
        if training and self.dropout > 0:
            return False
        return all(width == self.key_dim for width in self.value_dims)

    def _split(self, qkv):
        """Queries and keys `(batch, tokens, heads, key_dim)`; values the
        same when every head has `key_dim` values, else `(batch, tokens,
        sum(value_dims))`."""
        batch, tokens = ops.shape(qkv)[0], ops.shape(qkv)[1]
        heads, width = self.num_heads, self.key_dim
        if all(v == width for v in self.value_dims):
            # One reshape and an unstack: far cheaper than three slices of
            # the last axis (and their gradient) on the TensorFlow CPU path.
            qkv = ops.reshape(qkv, (batch, tokens, 3, heads, width))
            return ops.unstack(qkv, 3, axis=2)
        qk_width = heads * width
        shape = (batch, tokens, heads, width)
        queries = ops.reshape(qkv[..., :qk_width], shape)
        keys = ops.reshape(qkv[..., qk_width : 2 * qk_width], shape)
        return queries, keys, qkv[..., 2 * qk_width :]

    def _fused(self, qkv):
        batch, tokens = ops.shape(qkv)[0], ops.shape(qkv)[1]
        queries, keys, values = self._split(qkv)
        out = ops.dot_product_attention(
            queries, keys, values, scale=1.0 / math.sqrt(self.key_dim)
        )
        return ops.reshape(out, (batch, tokens, sum(self.value_dims)))

    def call(self, qkv, training=False):
        if self._use_fused(training):
            return self._fused(qkv)
        # Einsums on (batch, tokens, heads, width) views: no transposes to
        # materialise (as keras.layers.MultiHeadAttention), and the scale
        # goes on the queries, the smaller tensor.
        queries, keys, values = self._split(qkv)
        queries = queries * ops.cast(
            1.0 / math.sqrt(self.key_dim), queries.dtype
        )
        scores = ops.einsum("bqhd,bkhd->bhqk", queries, keys)
        if self.softmax_dtype == "float32":
            scores = ops.cast(scores, "float32")
        weights = ops.softmax(scores, axis=-1)
        weights = ops.cast(weights, self.compute_dtype)
        weights = self.dropout_layer(weights, training=training)
        if len(values.shape) == 4:
            out = ops.einsum("bhqk,bkhd->bqhd", weights, values)
            batch, tokens = ops.shape(out)[0], ops.shape(out)[1]
            return ops.reshape(out, (batch, tokens, sum(self.value_dims)))
        outputs, start = [], 0
        for head, width in enumerate(self.value_dims):
            head_values = values[..., start : start + width]
            outputs.append(ops.matmul(weights[:, head], head_values))
            start += width
        return ops.concatenate(outputs, axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], sum(self.value_dims))

    def get_config(self):
        return {
            **super().get_config(),
            "num_heads": self.num_heads,
            "key_dim": self.key_dim,
            "value_dims": self.value_dims,
            "dropout": self.dropout,
            "seed": self.seed,
            "implementation": self.implementation,
            "softmax_dtype": self.softmax_dtype,
        }
