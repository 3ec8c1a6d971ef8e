"""`CoupledSGD`: SGD with L2 added to the gradient, as PyTorch applies it.

METHOD.md section 2 step 2: the lab's readouts use PyTorch's
`torch.optim.SGD(lr, momentum, nesterov=True, weight_decay=wd)`, whose
weight decay is an L2 term `wd * w` added to the gradient *before* the
momentum buffer. Keras's `weight_decay` is decoupled (`w -= lr * wd * w`
after the step, never through momentum), so with momentum 0.975 the
lab's decay is about `1 / (1 - 0.975) = 40` times stronger. Backend-agnostic
(`keras.ops` only).
"""

import keras
from keras import ops

from keras_snp.utils import check_at_least


@keras.saving.register_keras_serializable(package="keras_snp")
class CoupledSGD(keras.optimizers.Optimizer):
    """SGD with (Nesterov) momentum and coupled L2, PyTorch's update rule.

    For each variable `w` with gradient `g`, learning rate `lr`, momentum
    `mu` and `l2`:

    ```python
    g = g + l2 * w
    buf = mu * buf + g
    w = w - lr * (g + mu * buf)   # Nesterov
    w = w - lr * buf              # plain momentum
    ```

    This is `torch.optim.SGD` with `dampening=0` (its first step sets
    `buf = g`, the same as `buf = mu * 0 + g`). Unlike Keras's `SGD`, the
    buffer holds gradients, not learning-rate-scaled steps, so a learning
    rate changed between epochs acts from the next step on, as in PyTorch.

    Args:
        learning_rate: a float, a schedule or a callable.
        momentum: float in [0, 1).
        nesterov: Nesterov momentum.
        l2: coefficient of the L2 term added to the gradient (PyTorch's
            `weight_decay`), >= 0.
        **kwargs: base optimizer arguments (`name`, `clipnorm`, ...). The
            decoupled `weight_decay` of Keras is refused: use `l2` here or
            `keras.optimizers.SGD(weight_decay=...)` for the decoupled form.

    Example:
    >>> w = keras.Variable([1.0])
    >>> opt = CoupledSGD(learning_rate=0.1, momentum=0.5, nesterov=True,
    ...                  l2=0.1)
    >>> opt.apply([keras.ops.convert_to_tensor([1.0])], [w])
    >>> round(float(w.numpy()[0]), 4)  # g = 1.1, buf = 1.1, step 0.1 * 1.65
    0.835
    """

    def __init__(
        self,
        learning_rate=0.01,
        momentum=0.0,
        nesterov=False,
        l2=0.0,
        name="coupled_sgd",
        **kwargs,
    ):
        if kwargs.get("weight_decay") is not None:
            raise ValueError(
                "`CoupledSGD` takes `l2` (added to the gradient), not the "
                "decoupled `weight_decay`. Received: weight_decay="
                f"{kwargs['weight_decay']}"
            )
        super().__init__(learning_rate=learning_rate, name=name, **kwargs)
        if not 0.0 <= float(momentum) < 1.0:
            raise ValueError(
                f"`momentum` must be in [0, 1). Received: momentum={momentum}"
            )
        check_at_least("l2", l2, 0)
        if nesterov and float(momentum) == 0:
            raise ValueError(
                "`nesterov=True` needs `momentum` > 0. "
                f"Received: momentum={momentum}"
            )
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self.l2 = float(l2)

    def build(self, variables):
        if self.built:
            return
        super().build(variables)
        self.momentums = []
        if self.momentum:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient, variable, learning_rate):
        lr = ops.cast(learning_rate, variable.dtype)
        g = ops.cast(gradient, variable.dtype)
        if self.l2:
            g = ops.add(
                g, ops.multiply(ops.cast(self.l2, variable.dtype), variable)
            )
        if not self.momentum:
            self.assign_sub(variable, ops.multiply(lr, g))
            return
        mu = ops.cast(self.momentum, variable.dtype)
        buf = self.momentums[self._get_variable_index(variable)]
        self.assign(buf, ops.add(ops.multiply(mu, buf), g))
        step = ops.add(g, ops.multiply(mu, buf)) if self.nesterov else buf
        self.assign_sub(variable, ops.multiply(lr, step))

    def get_config(self):
        return {
            **super().get_config(),
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "l2": self.l2,
        }
