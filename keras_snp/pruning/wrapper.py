"""`ANDCPrune`: a Dense / EinsumDense whose kernel is multiplied by a mask.

tensorflow-model-optimization does not work with Keras 3, so this wrapper is
ours. It is backend-agnostic (`keras.ops` only).
"""

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="keras_snp")
class ANDCPrune(keras.layers.Wrapper):
    """Wraps a `Dense` or `EinsumDense` layer with a 0/1 connection mask.

    The mask is a non-trainable weight of the kernel's shape, made in
    `build` (all ones) and set with `set_mask`. Every forward pass computes
    the output with `kernel * mask`, so a pruned connection has no effect
    however the optimizer moves the underlying kernel entry (under any
    distribution strategy: nothing is assigned, the product is recomputed).
    The inner layer keeps its name and weight names, so stripping the mask
    is `kernel * mask` copied into a plain layer (`andc.strip`).

    Args:
        layer: a `keras.layers.Dense` or `keras.layers.EinsumDense`.
        **kwargs: base layer arguments (`name`, `dtype`, ...). The name
            defaults to the inner layer's, so `model.get_layer(name)` keeps
            working on a pruned model.

    Call arguments:
        inputs: the inner layer's input.

    Returns:
        What the inner layer returns, computed with the masked kernel.

    Example:
    >>> layer = ANDCPrune(keras.layers.Dense(2, use_bias=False))
    >>> layer.build((None, 2))
    >>> layer.layer.set_weights([np.ones((2, 2))])
    >>> layer.set_mask(np.eye(2))
    >>> keras.ops.convert_to_numpy(layer(np.array([[1.0, 2.0]]))).tolist()
    [[1.0, 2.0]]
    >>> layer.sparsity
    0.5
    """

    def __init__(self, layer, **kwargs):
        if not isinstance(
            layer, (keras.layers.Dense, keras.layers.EinsumDense)
        ):
            raise ValueError(  # noqa: TRY004  (Keras: ValueError)
                "`layer` must be a keras.layers.Dense or EinsumDense. "
                f"Received: layer={layer!r}"
            )
        kwargs.setdefault("name", layer.name)
        kwargs.setdefault("dtype", layer.dtype_policy)
        super().__init__(layer, **kwargs)

    def build(self, input_shape=None):
        super().build(input_shape)
        if getattr(self.layer, "quantization_mode", None):
            raise ValueError(
                "`layer` must not be quantized: prune before quantizing. "
                f"Received: quantization_mode={self.layer.quantization_mode}"
            )
        self.mask = self.add_weight(
            name="mask",
            shape=tuple(self.layer.kernel.shape),
            initializer="ones",
            trainable=False,
        )

    def set_mask(self, mask):
        """Assigns a 0/1 (or bool) array of the kernel's shape.

        The inner kernel's pruned entries are set to 0 as well: their
        gradient through `kernel * mask` is 0, so they stay exactly 0 under
        SGD, Adam and decoupled weight decay alike.
        """
        mask = np.asarray(mask)
        if mask.shape != tuple(self.mask.shape):
            raise ValueError(
                f"`mask` must have the kernel's shape {tuple(self.mask.shape)}"
                f" in layer {self.name!r}. Received: mask.shape={mask.shape}"
            )
        self.mask.assign(mask.astype("float32"))
        kernel = self.layer.kernel
        self.layer.kernel.assign(
            kernel * ops.cast(ops.convert_to_tensor(mask != 0), kernel.dtype)
        )

    def masked_kernel(self):
        """The effective kernel, `kernel * mask`."""
        kernel = self.layer.kernel
        return kernel * ops.cast(self.mask, kernel.dtype)

    @property
    def sparsity(self):
        """The share of the kernel's connections that are pruned."""
        mask = ops.convert_to_numpy(self.mask)
        return float(1.0 - mask.mean())

    @property
    def kept(self):
        """The number of connections kept."""
        return int(np.count_nonzero(ops.convert_to_numpy(self.mask)))

    def call(self, inputs):
        inner = self.layer
        kernel = self.masked_kernel()
        if isinstance(inner, keras.layers.EinsumDense):
            x = ops.einsum(inner.equation, inputs, kernel)
        else:
            x = ops.matmul(inputs, kernel)
        if inner.bias is not None:
            x = ops.add(x, inner.bias)
        if inner.activation is not None:
            x = inner.activation(x)
        return x

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)
