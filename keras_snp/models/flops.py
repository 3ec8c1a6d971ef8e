"""The FLOP counter of keras_snp: one image through any built Keras model.

One multiply-add counts as two FLOPs. Only the matrix products are
counted: Dense and EinsumDense kernels, convolutions, the attention
products (`QK^T` and the weighted values) of `keras.layers.
MultiHeadAttention` and of the CCT's `PerHeadAttention`, and sequence
pooling. Element-wise work (norms, activations, softmax, additions,
pooling) is left out: it is a few percent at most, the same before and
after pruning, and usually left out of MFU figures.

The counter walks the model's layers, recursing into every layer that
holds layers (functional or `Sequential` sub-models, keras-hub's
`ViTEncoder`, the CCT's `ConvTokenizer`). The sizes the kernels are
applied to (tokens, output positions) come from one forward pass of a
single zero image, during which the counted layers record the shapes
they see; so a layer called twice counts twice, and one never called
counts nothing. A layer with a `masked_kernel()` method (a pruning
wrapper such as `keras_snp.pruning.ANDCPrune`, holding a Dense or
EinsumDense as `.layer`) counts as its inner layer with that kernel.
"""

import math

import keras
import numpy as np
from keras import ops

from keras_snp.models.attention import PerHeadAttention
from keras_snp.models.layers import SequencePooling

_CONVS = (
    keras.layers.Conv1D,
    keras.layers.Conv2D,
    keras.layers.Conv3D,
    keras.layers.DepthwiseConv1D,
    keras.layers.DepthwiseConv2D,
)
_KERNELS = (keras.layers.Dense, keras.layers.EinsumDense) + _CONVS


def _children(layer):
    """The layers `layer` holds directly (Keras tracks them in
    `_layers`; there is no public accessor for a plain `Layer`)."""
    return layer._flatten_layers(include_self=False, recursive=False)


def _walk(layer, seen):
    """Every layer under `layer` (itself included), each once; a masked
    wrapper hides its inner layer."""
    if id(layer) in seen:
        return
    seen.add(id(layer))
    yield layer
    if _is_masked(layer):
        return
    for child in _children(layer):
        yield from _walk(child, seen)


def _is_masked(layer):
    return callable(getattr(layer, "masked_kernel", None))


def _records_shapes(layer):
    return _is_masked(layer) or isinstance(
        layer, _KERNELS + (PerHeadAttention, SequencePooling)
    )


def _shape(x):
    return tuple(int(d) for d in ops.shape(x))


def _zero_inputs(model, input_shape):
    if input_shape is not None:
        return ops.zeros((1, *input_shape))
    try:
        structure = model.input  # the functional structure (dict, list)
    except (AttributeError, ValueError):
        # a Sequential answers only `inputs`, a subclassed model neither
        structure = getattr(model, "inputs", None) or None
        if structure is not None and len(structure) == 1:
            structure = structure[0]
    if structure is None:
        raise ValueError(
            "`input_shape` is needed: the model has no symbolic inputs "
            f"(a subclassed model). Received: model={model.name!r}"
        )

    def zeros(tensor):
        shape = tuple(tensor.shape[1:])
        if any(d is None for d in shape):
            raise ValueError(
                "`input_shape` is needed: an input has a dimension of "
                f"unknown size. Received: input shape={tensor.shape}"
            )
        return ops.zeros((1, *shape), dtype=tensor.dtype)

    return keras.tree.map_structure(zeros, structure)


def trace_shapes(model, input_shape=None):
    """Input and output shapes of every counted layer, per call.

    Runs `model` once in inference on one zero image.

    Args:
        model: a built Keras model (or layer, with `input_shape`).
        input_shape: one example's input shape, without the batch axis;
            default: from the model's symbolic inputs.

    Returns:
        `{id(layer): [(input_shape, output_shape), ...]}`, batch axis 1.

    Example:
    >>> dense = keras.layers.Dense(3)
    >>> model = keras.Sequential([keras.Input((5, 4)), dense])
    >>> trace_shapes(model)[id(dense)]
    [((1, 5, 4), (1, 5, 3))]
    """
    shapes = {}
    hooked = [layer for layer in _walk(model, set()) if _records_shapes(layer)]
    saved = []
    for layer in hooked:
        original = layer.call

        def call(*args, _layer=layer, _call=original, **kwargs):
            out = _call(*args, **kwargs)
            first = out[0] if isinstance(out, (tuple, list)) else out
            shapes.setdefault(id(_layer), []).append(
                (_shape(args[0]), _shape(first))
            )
            return out

        saved.append((layer, layer.__dict__.get("call")))
        object.__setattr__(layer, "call", call)
    try:
        model(_zero_inputs(model, input_shape), training=False)
    finally:
        for layer, own in saved:
            object.__delattr__(layer, "call")
            if own is not None:
                object.__setattr__(layer, "call", own)
    return shapes


def _kernel_size(kernel, sparse):
    if sparse:
        return int(np.count_nonzero(ops.convert_to_numpy(kernel)))
    return math.prod(kernel.shape)


def _einsum_positions(layer, out_shape):
    """Output positions of an EinsumDense that every kernel entry meets:
    the output axes the kernel does not index (the batch axis is 1)."""
    inputs, output = layer.equation.split("->")
    kernel_axes = inputs.split(",")[1]
    if "." in output:
        raise ValueError(
            "`equation` with an ellipsis is not counted. "
            f"Received: equation={layer.equation!r}"
        )
    return math.prod(
        size for axis, size in zip(output, out_shape) if axis not in kernel_axes
    )


def _kernel_flops(layer, kernel, calls, sparse):
    size = _kernel_size(kernel, sparse)
    total = 0
    for in_shape, out_shape in calls:
        if isinstance(layer, keras.layers.EinsumDense):
            positions = _einsum_positions(layer, out_shape)
        elif isinstance(layer, _CONVS):
            spatial = out_shape[1:-1]
            if layer.data_format == "channels_first":
                spatial = out_shape[2:]
            positions = math.prod(spatial)
        else:  # Dense: every axis but the last of the input
            positions = math.prod(in_shape[:-1])
        total += 2 * positions * size
    return total


def _mha_flops(layer, shapes):
    """`QK^T` and the weighted values of a `MultiHeadAttention`, from the
    shapes its query, key and value projections produced."""
    total = 0
    records = zip(
        shapes.get(id(layer.query_dense), []),
        shapes.get(id(layer.key_dense), []),
        shapes.get(id(layer.value_dense), []),
    )
    for (_, q), (_, k), (_, v) in records:
        queries, keys = math.prod(q[:-2]), math.prod(k[:-2])
        heads = q[-2]
        total += 2 * queries * keys * heads * (q[-1] + v[-1])
    return total


def _layer_flops(layer, shapes, sparse):
    calls = shapes.get(id(layer), [])
    if _is_masked(layer):
        return _kernel_flops(layer.layer, layer.masked_kernel(), calls, sparse)
    if isinstance(layer, _KERNELS):
        return _kernel_flops(layer, layer.kernel, calls, sparse)
    if isinstance(layer, keras.layers.MultiHeadAttention):
        return _mha_flops(layer, shapes)
    if isinstance(layer, PerHeadAttention):
        width = layer.num_heads * layer.key_dim + sum(layer.value_dims)
        return sum(2 * s[1] * s[1] * width for s, _ in calls)
    if isinstance(layer, SequencePooling):
        # the score (a Dense to one unit) and the weighted sum
        return sum(4 * s[1] * s[2] for s, _ in calls)
    return 0


def count_flops(model, sparse=False, input_shape=None):
    """FLOPs of one image through a built model: 2 x multiply-adds.

    See the module docstring for what is counted.

    Args:
        model: a built Keras model: a CCT (plain, masked or shrunken), a
            keras-hub model, a `Sequential` CNN, ...
        sparse: count only the nonzero kernel entries (the work of a
            sparse kernel; a masked wrapper's masked kernel), instead of
            each kernel's full size.
        input_shape: one example's input shape without the batch axis,
            for a model without symbolic inputs.

    Returns:
        The FLOP count, an `int`.

    Example:
    >>> model = keras.Sequential([keras.Input((5, 4)), keras.layers.Dense(3)])
    >>> count_flops(model)  # 2 x 5 tokens x 4 x 3
    120
    """
    shapes = trace_shapes(model, input_shape)
    return int(
        sum(
            _layer_flops(layer, shapes, sparse) for layer in _walk(model, set())
        )
    )
