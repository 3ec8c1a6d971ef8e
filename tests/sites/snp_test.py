"""SNP of models no CCT name describes, through the adapters' sites."""

import keras
import numpy as np

from keras_snp.sites import find_sites
from keras_snp.sites import run_with_cache
from keras_snp.snp import compute_snp
from keras_snp.snp import resolve_taps
from tests.sites import models


def _data(shape, classes, n=48, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, *shape)).astype("float32")
    y = rng.integers(0, classes, n)
    return x, y, [(x[i : i + 16], y[i : i + 16]) for i in range(0, n, 16)]


def _slow_V(features, labels, W, classes):
    """V[n, i, k] = sum_t mean over images of label i of x[t, n] W[k, t, n],
    with an explicit loop over nodes."""
    nodes = features.shape[-1]
    V = np.zeros((nodes, classes, classes))
    for node in range(nodes):
        for label in range(classes):
            mean = features[labels == label, :, node].mean(0)  # (tokens,)
            V[node, label] = W[:, :, node] @ mean
    return V


def test_snp_of_a_nested_attention_model_equals_the_slow_reference():
    keras.utils.set_random_seed(0)
    classes = 4
    model = models.nested_attention(classes=classes, blocks=1)
    x, y, batches = _data((5, 8), classes)
    # 1e-3: reachable in float32 (JAX without x64), see snp/solver.py
    result = compute_snp(
        model,
        batches,
        batches,
        flip=False,
        shift=0,
        views=1,
        tolerance=1e-3,
        verbose=0,
    )
    sites = find_sites(model)
    assert list(result.taps) == [s.name for s in sites]
    mha = result.taps["block_1_mha"]
    assert mha.kind == "mha" and mha.head.tolist() == sites[0].head.tolist()
    assert all(t.converged for t in result.taps.values())
    _, cache = run_with_cache(model, x, sites)
    for site in sites:
        tap = result.taps[site.name]
        expected = _slow_V(site.flat(cache[site.name]), y, tap.W, classes)
        np.testing.assert_allclose(tap.V, expected, rtol=1e-4, atol=1e-5)


def test_taps_by_site_name_and_by_site():
    model = models.flat_attention()
    specs = resolve_taps(model, ["block_1_mha", "mlp"])
    assert [s.name for s in specs] == ["block_1_mha", "mlp"]
    assert specs[0].site is not None and specs[0].nodes == 6
    assert specs[1].site is None  # a top-level layer: the functional path
    by_site = resolve_taps(model, find_sites(model))
    assert [s.name for s in by_site] == ["block_1_mha", "block_1_ff"]
    assert [s.name for s in resolve_taps(model, None)] == [
        "block_1_mha",
        "block_1_ff",
    ]


def test_snp_of_a_cnn_reads_every_conv():
    keras.utils.set_random_seed(1)
    model = models.small_cnn(classes=3)
    _, _, batches = _data((8, 8, 3), 3)
    result = compute_snp(model, batches, batches, views=1, verbose=0)
    assert list(result.taps) == ["block1_conv1", "block2_conv1"]
    assert result.taps["block1_conv1"].V.shape == (4, 3, 3)
    assert result.taps["block1_conv1"].kind == "conv"
