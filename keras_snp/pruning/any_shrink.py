"""Physical shrinking of any model pruned by `keras_snp.prune`.

`prune` zeroes kernel entries; here the units and heads those zeros cut
off are removed, giving a smaller model that computes the same function
in inference (up to float rounding).

- A `Dense` or `Conv2D` unit (output channel) goes when its consumer, the
  one `Dense` or `Conv2D` that reads it (through channel-wise layers:
  activations, dropouts, pooling, `BatchNormalization`, whose per-channel
  vectors are sliced, `Reshape` keeping the last axis, and `Flatten`,
  whose rows are mapped through the flatten order), has only zero weights
  on it. A unit with only zero incoming weights holds a constant
  (`act(bias)` through the chain), so it goes too when that constant is
  zero or can be folded into the consumer's bias (a `Dense`, or a `Conv2D`
  with `"valid"` padding, which sees no zero padding). Units that feed
  anything else (a residual addition, an attention, the model output, two
  consumers) are kept.
- A `keras.layers.MultiHeadAttention` head goes when its rows of the
  output projection are all zero, or when its value kernel is zero (its
  output is then its value bias, since attention weights sum to one; that
  constant is folded into the projection's bias). The layer is rebuilt
  with fewer heads; one head stays, silenced, when none is left.
- keras-hub's ViT (`ViTEncoder`): MLP hidden units, per block as above,
  and the model is rebuilt from its config with one `mlp_dim` for all
  blocks, the largest kept width; a block that keeps fewer units is padded
  with silenced ones (zero weights, `gelu(0) = 0`). Its heads are kept:
  its blocks set `key_dim = hidden_dim // num_heads`, so fewer heads would
  mean wider ones.

Other layers (and attentions nested in layers the rebuild cannot reach)
keep their zeros.
"""

import dataclasses

import keras
import numpy as np
from keras import ops

from keras_snp.pruning.shrink_plan import Plan
from keras_snp.pruning.shrink_plan import rebuilt
from keras_snp.pruning.shrink_vit import shrink_vit
from keras_snp.pruning.shrink_vit import vit_encoders

_ELEMENTWISE = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.Dropout,
    keras.layers.GaussianNoise,
    keras.layers.GaussianDropout,
)
_CHANNEL_WISE = (
    *_ELEMENTWISE,
    keras.layers.SpatialDropout1D,
    keras.layers.SpatialDropout2D,
    keras.layers.MaxPooling1D,
    keras.layers.MaxPooling2D,
    keras.layers.AveragePooling1D,
    keras.layers.AveragePooling2D,
    keras.layers.GlobalAveragePooling1D,
    keras.layers.GlobalAveragePooling2D,
    keras.layers.GlobalMaxPooling1D,
    keras.layers.GlobalMaxPooling2D,
)
_UNITS = (keras.layers.Dense, keras.layers.Conv2D)


@dataclasses.dataclass
class _Route:
    """How a producer's units reach the layer that reads them.

    Attributes:
        chain: the channel-wise layers in between, in order.
        consumer: the `Dense` or `Conv2D` that reads them.
        rows: `(units, positions)` int, the consumer's input rows of each
            unit (more than one position after a `Flatten`).
        shape: the producer's output shape, batch 1.
    """

    chain: list
    consumer: object
    rows: np.ndarray
    shape: tuple


class _Graph:
    """Who reads what in the graph of a Functional or Sequential model
    (its own nodes only: calls of its layers elsewhere do not count)."""

    def __init__(self, model):
        graph = model
        if isinstance(model, keras.Sequential):
            graph = getattr(model, "_functional", None)
            if graph is None:
                raise ValueError(
                    f"Build `{model.name}` with an `Input` first. Received: "
                    f"model={model.name!r}"
                )
        self.layers = graph.layers
        self.outputs = {id(t) for t in graph.outputs}
        self.readers, self.nodes = {}, {}
        for nodes in graph._nodes_by_depth.values():
            for node in nodes:
                self.nodes.setdefault(id(node.operation), []).append(node)
                for tensor in node.input_tensors:
                    self.readers.setdefault(id(tensor), []).append(node)

    def output(self, layer):
        """The layer's one output tensor, or None when it is called more
        than once or returns more than one tensor."""
        nodes = self.nodes.get(id(layer), [])
        if len(nodes) != 1 or len(nodes[0].output_tensors) != 1:
            return None
        return nodes[0].output_tensors[0]

    def only_reader(self, tensor):
        """The one layer that reads `tensor` (and nothing else), or None."""
        nodes = self.readers.get(id(tensor), [])
        if id(tensor) in self.outputs or len(nodes) != 1:
            return None
        if len(nodes[0].input_tensors) != 1:
            return None
        return nodes[0].operation


def _passes(layer, shape, out_shape):
    """Whether `layer` keeps the last axis as channels, one per unit."""
    if isinstance(layer, _CHANNEL_WISE):
        return True
    if isinstance(layer, keras.layers.BatchNormalization):
        return layer.axis in (-1, len(shape) - 1)
    if isinstance(layer, keras.layers.Reshape):
        return out_shape[-1] == shape[-1]
    return False


def _route(graph, producer):
    """The `_Route` of a producer's units, or None when they are kept."""
    tensor = graph.output(producer)
    if tensor is None or getattr(producer, "groups", 1) != 1:
        return None
    start = (1, *tensor.shape[1:])
    units = start[-1]
    rows = np.arange(units)[:, None]
    chain = []
    while True:
        layer = graph.only_reader(tensor)
        out = None if layer is None else graph.output(layer)
        if out is None:
            return None
        if isinstance(layer, _UNITS):
            if layer.kernel.shape[-2] != rows.size:
                return None
            return _Route(chain, layer, rows, start)
        shape = tuple(tensor.shape)
        if isinstance(layer, keras.layers.Flatten):
            if rows.shape[1] != 1 or layer.data_format != "channels_last":
                return None
            positions = int(np.prod(shape[1:-1]))
            rows = np.arange(units)[:, None] + units * np.arange(positions)
        elif rows.shape[1] == 1:
            if not _passes(layer, shape, tuple(out.shape)):
                return None
        elif not isinstance(layer, _ELEMENTWISE):  # after a Flatten
            return None
        chain.append(layer)
        tensor = out


def _constants(plan, producer, route):
    """`(rows,)` the consumer's input when every unit of `producer` has
    zero input (its `act(bias)` through the chain), and whether each row
    is the same at every position (so it can be folded into a bias)."""
    bias = (
        plan.get(producer.bias)
        if producer.use_bias
        else np.zeros(route.shape[-1], "float32")
    )
    value = producer.activation(ops.convert_to_tensor(bias, "float32"))
    x = ops.broadcast_to(value, route.shape)
    for layer in route.chain:
        if isinstance(layer, keras.layers.BatchNormalization):
            x = _batch_norm(plan, layer, x)
        else:
            x = layer(x, training=False)
    x = ops.convert_to_numpy(x).reshape(-1, route.rows.size)
    same = np.all(np.isclose(x, x[:1], rtol=0, atol=1e-7), axis=0)
    return x[0], same


def _batch_norm(plan, layer, x):
    """Inference batch normalization with the plan's current vectors."""
    mean = plan.get(layer.moving_mean)
    var = plan.get(layer.moving_variance)
    scale = plan.get(layer.gamma) if layer.scale else 1.0
    shift = plan.get(layer.beta) if layer.center else 0.0
    x = ops.convert_to_numpy(x)
    return (x - mean) / np.sqrt(var + layer.epsilon) * scale + shift


def _rows_first(kernel):
    """A consumer kernel as `(input rows, everything else)`."""
    return np.moveaxis(kernel, -2, 0).reshape(kernel.shape[-2], -1)


def _shrink_units(plan, graph, producer):
    route = _route(graph, producer)
    if route is None:
        return
    consumer = route.consumer
    kernel = plan.get(producer.kernel)
    units = kernel.shape[-1]
    weights = plan.get(consumer.kernel)
    by_row = _rows_first(weights)
    no_out = np.array([not by_row[r].any() for r in route.rows])
    no_in = ~kernel.reshape(-1, units).any(axis=0)
    if not (no_out | no_in).any():
        return
    constant, same = _constants(plan, producer, route)
    zero = np.array([not constant[r].any() for r in route.rows])
    foldable = consumer.use_bias and (
        isinstance(consumer, keras.layers.Dense) or consumer.padding == "valid"
    )
    fixed = np.array([same[r].all() for r in route.rows])
    remove = no_out | (no_in & (zero | (foldable & fixed)))
    silenced = None
    if remove.all():  # a layer keeps one unit, silenced
        silenced = 0
        remove[0] = False
    folded = remove.copy()
    if silenced is not None:
        folded[silenced] = True
    rows = np.sort(route.rows[folded].ravel())
    spatial = weights.reshape(-1, *weights.shape[-2:]).sum(axis=0)
    shift = constant[rows] @ spatial[rows]
    if shift.any():  # only units checked foldable have a nonzero shift
        plan.set(consumer.bias, plan.get(consumer.bias) + shift)
    keep = ~remove
    if silenced is not None:
        weights = weights.copy()
        weights[..., route.rows[silenced], :] = 0.0
        kernel = kernel.copy()
        kernel[..., silenced] = 0.0
        if producer.use_bias:
            bias = plan.get(producer.bias).copy()
            bias[silenced] = 0.0
            plan.set(producer.bias, bias)
    kept_rows = np.sort(route.rows[keep].ravel())
    plan.set(producer.kernel, kernel[..., keep])
    if producer.use_bias:
        plan.set(producer.bias, plan.get(producer.bias)[keep])
    for layer in route.chain:
        if isinstance(layer, keras.layers.BatchNormalization):
            for v in (layer.gamma, layer.beta):
                if v is not None:
                    plan.set(v, plan.get(v)[keep])
            for v in (layer.moving_mean, layer.moving_variance):
                plan.set(v, plan.get(v)[keep])
    plan.set(consumer.kernel, weights[..., kept_rows, :])
    config = producer.get_config()
    config["units" if "units" in config else "filters"] = int(keep.sum())
    plan.configs[producer.name] = config
    plan.report[producer.name] = int(units - keep.sum())


def _heads_to_keep(plan, attention):
    """Which heads of an attention stay; folds constant heads into the
    output projection's bias."""
    value, output = attention._value_dense, attention._output_dense
    w_out = plan.get(output.kernel)
    w_value = plan.get(value.kernel)
    if w_out.ndim != 3 or w_value.ndim != 3:
        return None  # attention over more than one axis: left as it is
    heads = w_out.shape[0]
    no_out = ~w_out.reshape(heads, -1).any(axis=1)
    no_in = ~np.moveaxis(w_value, 1, 0).reshape(heads, -1).any(axis=1)
    b_value = (
        plan.get(value.bias)
        if value.bias is not None
        else np.zeros(w_value.shape[1:], "float32")
    )
    # a head without value weights outputs its value bias at every token
    const = np.einsum("hd,hdo->ho", b_value, w_out)
    zero = ~const.any(axis=1)
    remove = no_out | (no_in & (zero | (output.bias is not None)))
    silenced = None
    if remove.all():
        silenced = 0
        remove[0] = False
    folded = remove & ~zero
    if silenced is not None and not zero[silenced]:
        folded[silenced] = True
    if folded.any():
        plan.set(output.bias, plan.get(output.bias) + const[folded].sum(0))
    if silenced is not None:
        w_out = w_out.copy()
        w_out[silenced] = 0.0
        plan.set(output.kernel, w_out)
    return ~remove


def _shrink_heads(plan, attention, name):
    keep = _heads_to_keep(plan, attention)
    if keep is None or keep.all():
        return
    for dense in (
        attention._query_dense,
        attention._key_dense,
        attention._value_dense,
    ):
        plan.set(dense.kernel, plan.get(dense.kernel)[:, keep])
        if dense.bias is not None:
            plan.set(dense.bias, plan.get(dense.bias)[keep])
    output = attention._output_dense
    plan.set(output.kernel, plan.get(output.kernel)[keep])
    config = attention.get_config()
    config["num_heads"] = int(keep.sum())
    plan.configs[name] = config
    plan.report[name] = int(keep.size - keep.sum())


def _shrink_graph(model):
    graph = _Graph(model)
    plan = Plan()
    for layer in graph.layers:
        if isinstance(layer, keras.layers.MultiHeadAttention):
            _shrink_heads(plan, layer, layer.name)
        elif isinstance(layer, _UNITS):
            _shrink_units(plan, graph, layer)

    def clone(layer):
        config = plan.configs.get(layer.name) or layer.get_config()
        return layer.__class__.from_config(config)

    small = rebuilt(
        model,
        plan,
        lambda: keras.models.clone_model(model, clone_function=clone),
    )
    return small, plan.report


def shrink_any(model, return_report=False):
    """Removes the units and heads a pruned model no longer uses.

    Args:
        model: a model pruned by `keras_snp.prune` (zeroed kernel entries):
            a Functional or Sequential model of Keras layers, or keras-hub's
            ViT; a keras_snp CCT goes to `keras_snp.pruning.shrink`.
        return_report: also return `{layer path: units or heads removed}`.

    Returns:
        A smaller model with the same outputs in inference (up to float
        rounding), saving and loading like the original; and the report
        when asked. A model with nothing to remove comes back as an equal
        copy.

    Example:
    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(3, activation="relu"),
    ...     keras.layers.Dense(2),
    ... ])
    >>> kernel = ops.convert_to_numpy(model.layers[1].kernel).copy()
    >>> kernel[1] = 0.0  # nothing reads hidden unit 1
    >>> _ = model.layers[1].kernel.assign(kernel)
    >>> small = shrink_any(model)
    >>> small.layers[0].units, small.count_params() < model.count_params()
    (2, True)

    After `pruned = keras_snp.prune(model, snp)`, `pruned.shrink()` is
    `shrink_any(pruned.model)`.
    """
    from keras_snp.pruning.wrapper import ANDCPrune
    from keras_snp.sites.cct import CCT

    if CCT.matches(model) or any(
        isinstance(layer, ANDCPrune) for layer in model.layers
    ):
        from keras_snp.pruning.shrinking import shrink

        return shrink(model, return_report=return_report)
    small, report = model, {}
    encoders = vit_encoders(model)
    if encoders:
        done = shrink_vit(model, encoders)
        if done is not None:
            small, report = done
    if _is_graph(small):
        small, more = _shrink_graph(small)
        report.update(more)
    elif small is model:
        if not encoders:
            raise ValueError(
                "`shrink_any` rebuilds Functional and Sequential models "
                f"and keras-hub ViTs. Received: model={model.name!r} "
                f"({type(model).__name__})"
            )
        small = model.__class__.from_config(model.get_config())
        small.set_weights(model.get_weights())
    return (small, report) if return_report else small


def _is_graph(model):
    """A Sequential, or a Functional model whose config is its graph."""
    if isinstance(model, keras.Sequential):
        return True
    # keras-hub's tasks and backbones are Functional subclasses whose
    # config is their constructor's arguments, not the graph
    own = type(model).get_config.__qualname__
    return hasattr(model, "_nodes_by_depth") and own == "Functional.get_config"
