import json
import os

import numpy as np
import pytest

from keras_snp.snp import clusters

CASES = json.load(
    open(os.path.join(os.path.dirname(__file__), "data", "snp_cases.json"))
)


@pytest.mark.parametrize("index", range(len(CASES["nodes"])))
def test_hand_made_nodes(index):
    case = CASES["nodes"][index]
    stats = clusters.node_stats(np.array(case["V"]), CASES["theta"])
    assert list(stats.diag) == case["diag"]
    assert [list(c) for c in stats.clusters] == case["clusters"]
    assert stats.noise == case["noise"]
    assert stats.silent == case["silent"]


def test_tap_statistics():
    V = np.array([n["V"] for n in CASES["nodes"]])
    got = clusters.tap_stats(V, CASES["theta"])
    for key, value in CASES["tap"].items():
        assert got[key] == pytest.approx(value), key


def test_cluster_order_and_singletons():
    B = np.zeros((5, 5), bool)
    for i, j in [(0, 0), (2, 2), (4, 4), (0, 4), (4, 0), (2, 4)]:
        B[i, j] = True
    # 2 cannot join {0, 4} (B[4, 2] is 0), so it stays a singleton.
    assert clusters.greedy_clusters(B) == [[0, 4], [2]]


def test_silent_node_and_theta():
    assert clusters.node_stats(-np.ones((3, 3))).silent
    V = np.diag([1.0, 0.5, 0.25])
    assert list(clusters.diagonal_set(V, 0.3)) == [0, 1]
    assert list(clusters.diagonal_set(V, 0.2)) == [0, 1, 2]
    with pytest.raises(ValueError, match="theta"):
        clusters.binarize(V, 1.5)


def test_noise_counts_off_block_entries():
    V = np.array([[1.0, 0.0, 0.9], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    # Clusters {0}, {1}, {2} (0-2 is one-way); the lone 0.9 is noise.
    stats = clusters.node_stats(V)
    assert stats.clusters == ((0,), (1,), (2,))
    assert stats.noise == 1
    two_way = V.copy()
    two_way[2, 0] = 0.9
    assert clusters.node_stats(two_way).noise == 0


def test_snr_forms():
    V = np.stack([np.eye(4) + 0.5 * (np.arange(4)[:, None] == 3)])
    stats = clusters.tap_stats(V)
    # Clusters {0},{1},{2},{3}: signal 4; noise = 7 - 4 = 3.
    assert stats["snr"] == pytest.approx(4 / 3)
    assert stats["snr_labels"] == pytest.approx(4 / 3)
