"""The converged readout solver against a slow, obvious reference.

Backend-agnostic (numpy, scipy and `keras.ops`): CI runs it on TensorFlow
and on JAX.
"""

import numpy as np
import pytest
import scipy.optimize

from keras_snp.snp.cache import FeatureCache
from keras_snp.snp.solver import ReadoutProblem
from keras_snp.snp.solver import SolverConfig
from keras_snp.snp.solver import solve_readout

K, L2 = 4, 1e-3


@pytest.fixture(autouse=True)
def _float64_on_jax():
    """JAX computes float64 only with `jax_enable_x64` (the solver's
    refinement below a relative gradient of 1e-3 needs it)."""
    import keras

    if keras.backend.backend() != "jax":
        yield
        return
    import jax

    previous = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", True)
    yield
    jax.config.update("jax_enable_x64", previous)


def planted(rows=600, features=40, seed=0):
    """Features on scales 0.05..20 (ill-conditioned like a CCT tap), with
    the label planted in a few of them."""
    rng = np.random.default_rng(seed)
    scales = np.exp(rng.uniform(np.log(0.05), np.log(20), features))
    labels = rng.integers(0, K, rows)
    x = rng.normal(size=(rows, features))
    x[:, :K] += 1.5 * np.eye(K)[labels]
    return (x * scales).astype("float32"), labels


def reference(x, labels):
    """scipy L-BFGS in float64, unpreconditioned, to a tiny gradient."""
    x = x.astype("float64")
    n, d = x.shape
    onehot = np.eye(K)[labels]

    def f(w):
        W = w.reshape(d, K)
        z = x @ W
        z = z - z.max(1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(1, keepdims=True)
        loss = -np.mean(np.log(p[np.arange(n), labels]))
        value = loss + 0.5 * L2 * np.sum(W * W)
        return value, (x.T @ (p - onehot) / n + L2 * W).ravel()

    result = scipy.optimize.minimize(
        f,
        np.zeros(d * K),
        jac=True,
        method="L-BFGS-B",
        options={"maxiter": 50000, "maxfun": 100000, "ftol": 0, "gtol": 1e-10},
    )
    return result.x.reshape(d, K), result.fun


@pytest.fixture(scope="module")
def case():
    x, labels = planted()
    return x, labels, reference(x, labels)


def _problem(x, labels, block=256):
    blocks = [x[i : i + block] for i in range(0, len(x), block)]
    return ReadoutProblem(blocks, labels, K, L2)


@pytest.mark.parametrize(
    "settings",
    [
        {},  # full second moment
        {"gram_rows": 200},  # a sample of rows
        {"max_gram_features": 10},  # wider than that: its diagonal
    ],
)
def test_solver_reaches_the_reference_optimum(case, settings):
    x, labels, (W_ref, f_ref) = case
    config = SolverConfig(tolerance=3e-4, max_passes=2000, **settings)
    W, info = solve_readout(_problem(x, labels), config)
    assert info.converged, info
    assert info.objective == pytest.approx(f_ref, rel=2e-5)
    assert info.objective >= f_ref - 1e-7  # not below the true optimum
    scale = np.abs(W_ref).max()
    np.testing.assert_allclose(W, W_ref, atol=5e-3 * scale)
    assert info.loss < np.log(K) and info.rows == len(labels)


def test_not_converged_within_a_small_budget(case):
    x, labels, _ = case
    W, info = solve_readout(
        _problem(x, labels), SolverConfig(tolerance=1e-8, max_passes=5)
    )
    assert info.converged is False
    assert info.passes <= 6 and info.relative_grad_norm > 1e-8
    assert np.isfinite(W).all()


def test_float16_blocks_solve_the_float16_features(case):
    x, labels, _ = case
    x16 = x.astype("float16")
    exact = solve_readout(
        _problem(x16.astype("float32"), labels), SolverConfig(tolerance=1e-3)
    )
    blocks = [x16[i : i + 256] for i in range(0, len(x16), 256)]
    held = ReadoutProblem(blocks, labels, K, L2, dtype="float16")
    half = solve_readout(held, SolverConfig(tolerance=1e-3))
    assert half[1].converged
    assert half[1].objective == pytest.approx(exact[1].objective, rel=1e-6)


def test_cache_in_memory_and_on_disk_hold_the_same_rows(tmp_path):
    rng = np.random.default_rng(0)
    batches = [(rng.normal(size=(7, 3, 5)), rng.integers(0, K, 7))] * 3
    memory = FeatureCache([15, 5], memory_budget=1 << 30)
    disk = FeatureCache([15, 5], memory_budget=100, directory=tmp_path)
    for cache in (memory, disk):
        for a, y in batches:
            cache.append([a, a[:, 0]], y)
    assert not memory.on_disk and disk.on_disk
    assert len(list(tmp_path.iterdir())) == 1
    for index in (0, 1):
        np.testing.assert_array_equal(memory.tap(index), disk.tap(index))
        blocks = list(disk.blocks(index, 4))
        assert [len(b) for b in blocks] == [4, 4, 4, 4, 4, 1]
    np.testing.assert_array_equal(memory.labels, disk.labels)
    assert memory.tap(0).dtype == np.float16
    disk.close()
    assert list(tmp_path.iterdir()) == []


def test_cache_refuses_a_wrong_width():
    cache = FeatureCache([6])
    with pytest.raises(ValueError, match="5 features for a tap of 6"):
        cache.append([np.zeros((2, 5))], [0, 1])
