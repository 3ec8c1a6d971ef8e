"""Readouts solved to their optimum (METHOD.md section 2, "converged").

A readout is the minimiser of the convex objective

    f(W) = mean_i CE(softmax(x_i W), y_i) + l2 / 2 * ||W||^2

over the cached rows `x_i` (every augmented view of the training split, on
the unscaled activations), `W` of shape `(features, K)`, no bias. The lab's
SGD approaches it in 200 epochs; here L-BFGS (scipy) runs in whitened
coordinates `W = L^-T V`, with `L L^T = G + delta I` the Cholesky factor of
the features' damped second moment `G = X^T X / n` measured on a sample of
rows. The whitening removes the spread of the features' scales (condition
numbers near 1e6 on CCT taps) so L-BFGS needs tens of passes, not hundreds;
`delta` (a multiple of G's mean eigenvalue) keeps the whitening from
amplifying directions the data barely spans. Wider taps than
`max_gram_features` fall back to the diagonal of G (Jacobi).

Convergence is measured, never assumed: a readout is converged when the
whitened gradient norm has fallen to `tolerance` times its value at W = 0.
The objective and its gradient are `keras.ops` computations on blocks of
rows held as backend tensors, so the solve runs on TF, JAX and torch.
On JAX, float64 needs `jax.config.update("jax_enable_x64", True)`; without
it the refinement stays float32 and the relative gradient stalls near
1e-4 (the readout is then reported as not converged at the default
tolerance).
"""

import dataclasses
import logging
import time

import numpy as np
import scipy.linalg
import scipy.optimize
from keras import ops

from keras_snp.settings import SolverConfig  # noqa: F401 (re-export)

logger = logging.getLogger(__name__)


@dataclasses.dataclass
class Convergence:
    """How one readout's solve ended (kept in `snp/summary.json`).

    For `solver="stream"`, `objective`, `loss` and the gradients are those
    of the held-out view, `views` the fresh views used and
    `held_out_change` the convergence criterion (`snp/stream.py`).
    """

    solver: str
    converged: bool | None
    objective: float
    loss: float
    grad_norm: float
    relative_grad_norm: float
    passes: int
    rows: int
    seconds: float
    views: int | None = None
    held_out_change: float | None = None

    def to_dict(self):
        return dataclasses.asdict(self)


class ReadoutProblem:
    """The readout objective on rows held as backend tensors.

    Args:
        blocks: `(rows_b, features)` arrays (numpy or backend tensors).
        labels: `(rows,)` int labels, in the blocks' row order.
        num_classes: K.
        l2: the coupled L2 strength (the lab's weight decay).
        dtype: dtype the blocks are held in (float32, or float16 to halve
            memory; products are float32 either way).
    """

    def __init__(self, blocks, labels, num_classes, l2, dtype="float32"):
        labels = np.asarray(labels).astype("int32")
        self.num_classes = int(num_classes)
        self.l2 = float(l2)
        self.rows = len(labels)
        self.blocks, self.targets = [], []
        start = 0
        for block in blocks:
            stop = start + int(block.shape[0])
            self.blocks.append(ops.convert_to_tensor(block, dtype=dtype))
            self.targets.append(
                ops.one_hot(
                    labels[start:stop], self.num_classes, dtype="float64"
                )
            )
            start = stop
        if start != self.rows or not self.rows:
            raise ValueError(
                f"The blocks hold {start} rows for {self.rows} labels."
            )
        self.features = int(self.blocks[0].shape[1])
        self.passes = 0
        self.precision = "float32"

    @staticmethod
    def _block(X, Y, W, precision):
        # The products in `precision` (float32: the cost); the per-row
        # log-sum-exp and residual in float64.
        X = ops.cast(X, precision)
        # einsum, not matmul: Keras' torch matmul returns float32 for
        # float64 operands, which floors the refinement near 1e-6.
        logits = ops.cast(ops.einsum("bd,dk->bk", X, W), "float64")
        lse = ops.logsumexp(logits, axis=-1)
        loss = ops.sum(lse) - ops.sum(logits * Y)
        residual = ops.cast(ops.exp(logits - lse[:, None]) - Y, precision)
        return loss, ops.einsum("bd,bk->dk", X, residual)

    def loss_and_grad(self, W):
        """Mean cross-entropy and its gradient (numpy float64) at `W`."""
        self.passes += 1
        weights = ops.convert_to_tensor(
            np.asarray(W, self.precision), dtype=self.precision
        )
        loss, grad = 0.0, np.zeros((self.features, self.num_classes))
        for X, Y in zip(self.blocks, self.targets):
            block_loss, block_grad = self._block(X, Y, weights, self.precision)
            loss += float(ops.convert_to_numpy(block_loss))
            grad += ops.convert_to_numpy(block_grad)
        return loss / self.rows, grad / self.rows

    def objective(self, W):
        """`(f(W), grad f(W))` with the L2 term."""
        W = np.asarray(W, "float64")
        loss, grad = self.loss_and_grad(W)
        return (
            loss + 0.5 * self.l2 * float(np.sum(W * W)),
            grad + self.l2 * W,
        )

    def second_moment(self, max_rows=None, seed=0):
        """`G = X^T X / n` (float64) over all rows or a sample of them."""
        rows = np.arange(self.rows)
        if max_rows is not None and max_rows < self.rows:
            rows = np.sort(
                np.random.default_rng(seed).choice(
                    self.rows, max_rows, replace=False
                )
            )
        G = np.zeros((self.features, self.features))
        start = 0
        for X in self.blocks:
            stop = start + int(X.shape[0])
            pick = rows[(rows >= start) & (rows < stop)] - start
            start = stop
            if not len(pick):
                continue
            Xs = ops.cast(ops.take(X, pick, axis=0), "float32")
            G += ops.convert_to_numpy(ops.einsum("bd,be->de", Xs, Xs))
        return G / len(rows)

    def diagonal_moment(self):
        """The diagonal of `X^T X / n` over all rows (float64)."""
        total = np.zeros(self.features)
        for X in self.blocks:
            X = ops.cast(X, "float32")
            total += ops.convert_to_numpy(ops.sum(X * X, axis=0))
        return total / self.rows


class Whitening:
    """`W = L^-T V` for `L L^T = G + delta I` (or its diagonal).

    `L^-1` is formed once (float64, then held as float32) so that every
    pass applies it with two matrix products, not triangular solves.
    """

    def __init__(self, problem, config, seed=0):
        if problem.features <= config.max_gram_features:
            G = problem.second_moment(config.gram_rows, seed)
            delta = config.damping * max(np.trace(G) / len(G), 1e-12)
            G[np.diag_indices_from(G)] += delta
            factor = np.linalg.cholesky(G)
            del G
            inverse = scipy.linalg.solve_triangular(
                factor,
                np.eye(len(factor)),
                lower=True,
                check_finite=False,
                overwrite_b=True,
            )
            self.inverse = inverse.astype("float32")
            self.diagonal = None
        else:
            g = problem.diagonal_moment()
            delta = config.damping * max(float(np.mean(g)), 1e-12)
            self.inverse = None
            self.diagonal = np.sqrt(g + delta)[:, None]

    def weights(self, V):
        if self.inverse is None:
            return V / self.diagonal
        return (self.inverse.T @ V.astype("float32")).astype("float64")

    def gradient(self, grad_W):
        if self.inverse is None:
            return grad_W / self.diagonal
        return (self.inverse @ grad_W.astype("float32")).astype("float64")


def solve_readout(problem, config=None, seed=0, monitor=None):
    """Minimises the readout objective of `problem`.

    Args:
        problem: a `ReadoutProblem`.
        config: a `SolverConfig` (default settings if None).
        seed: seed of G's row sample.
        monitor: called after every iteration as `monitor(passes,
            relative_grad_norm, weights)`, `weights()` giving the current
            `W` (for convergence studies).

    Returns:
        `(W, Convergence)`: `W` float32 `(features, K)`.

    Example:
    >>> rng = np.random.default_rng(0)
    >>> x = rng.normal(size=(200, 5)); y = (x[:, 0] > 0).astype(int)
    >>> W, info = solve_readout(ReadoutProblem([x], y, 2, l2=1e-3))
    >>> bool(info.converged), info.loss < np.log(2)
    (True, True)
    """
    config = (config or SolverConfig()).validate()
    start = time.perf_counter()
    problem.passes = 0
    problem.precision = "float32"
    whitening = Whitening(problem, config, seed)
    shape = (problem.features, problem.num_classes)
    state = {}

    def fun(v):
        V = v.reshape(shape)
        W = whitening.weights(V)
        value, grad_W = problem.objective(W)
        grad_V = whitening.gradient(grad_W)
        state.update(v=v.copy(), value=value, grad_W=grad_W, grad_V=grad_V)
        return value, grad_V.ravel()

    fun(np.zeros(np.prod(shape)))
    initial = float(np.linalg.norm(state["grad_V"])) or 1.0

    def relative():
        return float(np.linalg.norm(state["grad_V"])) / initial

    def stop_when_converged(intermediate_result):
        logger.debug(
            "pass %d: objective %.6f, relative gradient %.2e",
            problem.passes,
            state["value"],
            relative(),
        )
        if monitor is not None:
            monitor(
                problem.passes,
                relative(),
                lambda: whitening.weights(state["v"].reshape(shape)),
            )
        if relative() <= config.tolerance:
            raise StopIteration
        if relative() <= config.refine_below:
            problem.precision = "float64"

    best = state["v"]
    if relative() > config.tolerance:
        best = scipy.optimize.minimize(
            fun,
            state["v"],
            jac=True,
            method="L-BFGS-B",
            callback=stop_when_converged,
            options={
                "maxcor": config.memory,
                "maxfun": config.max_passes - 1,
                "maxiter": config.max_passes,
                "ftol": 0.0,
                "gtol": 0.0,
            },
        ).x
    # The last evaluation is usually the point returned; not when a line
    # search ended on a worse trial.
    if not np.array_equal(best, state["v"]):
        fun(best)
    W = whitening.weights(best.reshape(shape))
    value, grad_W = state["value"], state["grad_W"]
    rel = relative()
    return W.astype("float32"), Convergence(
        solver="lbfgs",
        converged=bool(rel <= config.tolerance),
        objective=float(value),
        loss=float(value - 0.5 * problem.l2 * np.sum(W * W)),
        grad_norm=float(np.linalg.norm(grad_W)),
        relative_grad_norm=rel,
        passes=int(problem.passes),
        rows=int(problem.rows),
        seconds=float(time.perf_counter() - start),
    )
