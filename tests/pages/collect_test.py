"""The pages' per-node numbers against slow references: top images by a
per-node loop, ablation deltas by the hooked API."""

import numpy as np
import pytest

from keras_snp.pages.collect import cluster_mates
from keras_snp.pages.collect import collect_nodes
from keras_snp.pages.collect import pool_maps
from keras_snp.pages.collect import token_grid
from keras_snp.pages.settings import PagesSettings
from keras_snp.sites import ablation_effect
from keras_snp.snp import clusters
from tests.pages import fixtures

TOP_K = 5


@pytest.fixture(scope="module")
def setup():
    model = fixtures.model_with_weights()
    x, y, batches = fixtures.images()
    result = fixtures.snp_result(model, x, y)
    acts, specs = fixtures.activations(model, x, list(result.taps))
    settings = PagesSettings(top_k=TOP_K, ablation_nodes=1)
    data = collect_nodes(model, result, batches, settings, verbose=0)
    return model, x, y, batches, result, acts, specs, data


def slow_top(scores, k):
    """Best `k` test indices of `scores` `(N,)`, ties to the lower index,
    by sorting every image."""
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    return [i for i in order[:k] if np.isfinite(scores[i])]


def test_top_images_are_the_argmax_of_a_per_node_loop(setup):
    _, x, y, _, result, acts, specs, data = setup
    checked = 0
    for spec in specs:
        tap, nodes = result.taps[spec.name], data.taps[spec.name]
        A = acts[spec.name].reshape(len(x), spec.tokens, spec.nodes)
        assert nodes.field == "readout"
        for d in range(spec.nodes):
            diag = clusters.node_stats(tap.V[d], result.theta).diag
            rows = nodes.pairs_of(d)
            assert nodes.pair_label[rows].tolist() == list(diag)
            for row, c in zip(rows, diag):
                # node d alone, image by image
                phi = np.array(
                    [float(A[i, :, d] @ tap.W[c, :, d]) for i in range(len(x))]
                )
                expected = slow_top(phi, TOP_K)
                got = [i for i in nodes.index[row] if i >= 0]
                assert got == expected, (spec.name, d, c)
                np.testing.assert_allclose(
                    nodes.score[row, : len(got)], phi[got], rtol=1e-4, atol=1e-4
                )
                # the winner's activation map is the node's tokens on it
                np.testing.assert_allclose(
                    nodes.maps[row, 0].astype("float32"),
                    A[got[0], :, d],
                    rtol=2e-3,
                    atol=2e-3,
                )
                checked += 1
    assert checked > 50
    assert data.thumbs.shape == (len(x), 32, 32, 3)
    assert data.labels.tolist() == y.tolist()


def test_without_readout_weights_the_mean_activation_of_the_label_ranks(setup):
    model, x, y, batches, result, acts, specs, _ = setup
    bare = fixtures.snp_result(model, x, y, with_W=False)
    data = collect_nodes(
        model,
        bare,
        batches,
        PagesSettings(top_k=3, ablation_nodes=0),
        verbose=0,
    )
    spec = specs[1]
    nodes = data.taps[spec.name]
    assert nodes.field == "activation" and not nodes.ablated
    A = acts[spec.name].reshape(len(x), spec.tokens, spec.nodes)
    for row, (d, c) in enumerate(zip(nodes.pair_node, nodes.pair_label)):
        score = np.where(y == c, A[:, :, d].mean(1), -np.inf)
        got = [i for i in nodes.index[row] if i >= 0]
        assert got == slow_top(score, 3)
        assert all(y[i] == c for i in got)


def test_ablation_deltas_equal_the_hooked_api(setup):
    model, _, _, batches, result, _, specs, data = setup
    from keras_snp.pages.collect import tap_sites

    sites = tap_sites(model, specs)
    count = 0
    for name, nodes in data.taps.items():
        assert len(nodes.ablated) == 1  # ablation_nodes=1
        ((d, entry),) = nodes.ablated.items()
        sizes = [len(s.diag) for s in nodes.stats]
        assert sizes[d] == max(sizes)
        expected = ablation_effect(
            model, batches, {sites[name]: [d]}, fixtures.K
        )
        np.testing.assert_allclose(entry["alone"], expected, atol=1e-9)
        assert entry["mate_nodes"] == cluster_mates(nodes.stats, d)
        if entry["mates"] is not None:
            mates = ablation_effect(
                model, batches, {sites[name]: entry["mate_nodes"]}, fixtures.K
            )
            np.testing.assert_allclose(entry["mates"], mates, atol=1e-9)
            count += 1
    assert count >= 1


def test_token_grid_and_pooling():
    class Spec:
        def __init__(self, shape, tokens, site=None):
            self.shape, self.tokens, self.site = shape, tokens, site

    assert token_grid(Spec((64, 16), 64)) == (8, 8, 0)
    assert token_grid(Spec((197, 12), 197)) == (14, 14, 1)  # class token
    assert token_grid(Spec((7, 5, 8), 35)) == (7, 5, 0)  # conv (H, W, C)
    assert token_grid(Spec((1, 8), 1)) is None
    maps = np.arange(16, dtype="float32").reshape(1, 16)
    pooled, grid = pool_maps(maps, (4, 4), 2)
    assert grid == (2, 2)
    np.testing.assert_allclose(pooled, [[2.5, 4.5, 10.5, 12.5]])
