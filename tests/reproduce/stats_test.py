import numpy as np

from keras_snp.reproduce import stats
from keras_snp.snp import clusters
from tests.helpers import TestCase


def slow_spearman(x, y):
    """1 - 6 sum d^2 / (n (n^2 - 1)), valid without ties."""
    rank = lambda v: np.argsort(np.argsort(v)) + 1  # noqa: E731
    d = rank(np.asarray(x)) - rank(np.asarray(y))
    n = len(x)
    return 1 - 6 * (d**2).sum() / (n * (n**2 - 1))


class SpearmanTest(TestCase):
    def test_hand_values(self):
        # ranks of y: 1, 3, 2, 4 -> d^2 sum 2 -> 1 - 12 / 60 = 0.8
        self.assertAlmostEqual(
            stats.spearman([1, 2, 3, 4], [10, 20, 15, 40]), 0.8
        )
        self.assertAlmostEqual(stats.spearman([1, 2, 3], [3, 2, 1]), -1.0)
        self.assertAlmostEqual(stats.spearman([1, 2, 3], [1, 5, 9]), 1.0)

    def test_against_formula_without_ties(self):
        rng = np.random.default_rng(0)
        for _ in range(20):
            x, y = rng.normal(size=7), rng.normal(size=7)
            self.assertAlmostEqual(stats.spearman(x, y), slow_spearman(x, y))

    def test_ties_use_average_ranks(self):
        # depths 1,1,2,2 against 0.1,0.2,0.3,0.4: ranks (1.5,1.5,3.5,3.5)
        # vs (1,2,3,4), centred (-1,-1,1,1) and (-1.5,-.5,.5,1.5):
        # 4 / sqrt(4 * 5) = 0.8944
        self.assertAlmostEqual(
            stats.spearman([1, 1, 2, 2], [0.1, 0.2, 0.3, 0.4]), 4 / np.sqrt(20)
        )

    def test_against_scipy_with_ties(self):
        scipy_stats = __import__("pytest").importorskip("scipy.stats")
        rng = np.random.default_rng(4)
        for _ in range(20):
            x = rng.integers(1, 4, size=9)
            y = rng.integers(0, 5, size=9)
            expected = scipy_stats.spearmanr(x, y).statistic
            if np.isfinite(expected):
                self.assertAlmostEqual(stats.spearman(x, y), expected)

    def test_undefined_is_nan(self):
        self.assertTrue(np.isnan(stats.spearman([1, 1, 1], [1, 2, 3])))
        self.assertTrue(np.isnan(stats.spearman([1], [1])))
        with self.assertRaisesRegex(ValueError, "same length"):
            stats.spearman([1, 2], [1, 2, 3])


class SlopeAndCITest(TestCase):
    def test_slope(self):
        self.assertAlmostEqual(stats.slope([1, 2, 3], [1, 3, 5]), 2.0)
        self.assertTrue(np.isnan(stats.slope([1, 1], [1, 2])))

    def test_percentile_ci(self):
        low, high = stats.percentile_ci(np.arange(1001.0))
        self.assertAlmostEqual(low, 25.0)
        self.assertAlmostEqual(high, 975.0)

    def test_accuracy_difference_ci_contains_truth(self):
        # a right on 70 % of 2000 images, b on 60 %: difference 0.10,
        # paired standard error sqrt(var(a - b) / n) ~ 0.0084.
        rng = np.random.default_rng(1)
        a = rng.permutation(np.arange(2000) < 1400)
        b = rng.permutation(np.arange(2000) < 1200)
        out = stats.bootstrap_accuracy_difference(a, b, resamples=500)
        self.assertAlmostEqual(out["difference"], 0.10)
        self.assertLess(out["low"], 0.10)
        self.assertGreater(out["high"], 0.10)
        se = np.sqrt(np.var(a.astype(float) - b) / 2000)
        self.assertAllClose(out["high"] - out["low"], 2 * 1.96 * se, rtol=0.2)

    def test_accuracy_difference_identical_models(self):
        a = np.arange(100) % 3 == 0
        out = stats.bootstrap_accuracy_difference(a, a, resamples=50)
        self.assertEqual(
            (out["difference"], out["low"], out["high"]), (0.0, 0.0, 0.0)
        )

    def test_depth_correlation(self):
        rising = stats.depth_correlation_accuracy(
            [1, 2, 3, 4], [0.2, 0.3, 0.4, 0.5], n_test=10000, resamples=200
        )
        self.assertEqual(rising["rho"], 1.0)
        self.assertGreater(rising["low"], 0.9)
        self.assertAlmostEqual(rising["slope"], 0.1)
        self.assertLess(rising["slope_low"], 0.1)
        self.assertGreater(rising["slope_high"], 0.1)
        flat = stats.depth_correlation_accuracy(
            [1, 2, 3, 4], [0.30, 0.31, 0.30, 0.31], n_test=100, resamples=200
        )
        self.assertLess(flat["low"], 0)
        self.assertGreater(flat["high"], 0)

    def test_sign_verdict(self):
        self.assertEqual(stats.sign_verdict(0.1, 0.2, "positive"), "reproduced")
        self.assertEqual(
            stats.sign_verdict(-0.2, -0.1, "positive"), "not reproduced"
        )
        self.assertEqual(
            stats.sign_verdict(-0.2, -0.1, "negative"), "reproduced"
        )
        self.assertEqual(
            stats.sign_verdict(-0.1, 0.1, "negative"),
            "inconclusive at this budget",
        )


class NodeStatsTest(TestCase):
    def test_resampled_index_equals_stats_of_the_resampled_matrices(self):
        rng = np.random.default_rng(2)
        V = rng.normal(size=(12, 6, 6)) + 3 * np.eye(6) * rng.random((12, 1, 1))
        index = rng.integers(0, 12, 12)  # a bootstrap draw, with repeats
        mine = stats.table_stats(stats.node_table(V, 0.3), index)
        reference = clusters.tap_stats(V[index], 0.3)
        self.assertEqual(set(mine), set(reference))
        for key, value in mine.items():
            self.assertAlmostEqual(value, reference[key], msg=key)

    def test_trend_over_nodes_sign(self):
        # noise falls with depth by construction: more off-diagonal mass
        # in the shallow tap.
        rng = np.random.default_rng(3)
        K = 8

        def tap(noise):
            V = np.eye(K)[None] + noise * rng.random((40, K, K))
            return stats.node_table(V, 0.3)

        trend = stats.depth_trend_over_nodes(
            [tap(1.2), tap(0.8), tap(0.5)], [1, 2, 3], resamples=100
        )
        self.assertLess(trend["mean_noise"]["slope_high"], 0)
        self.assertGreater(trend["snr"]["slope_low"], 0)
        self.assertEqual(trend["mean_noise"]["rho"], -1.0)


class GroupedTest(TestCase):
    def test_mean_of_within_group_values(self):
        # kind a rises (rho 1, slope 0.1), kind b falls (rho -1, slope
        # -0.3): means 0 and -0.1, whatever the level of each kind.
        depths = [1, 2, 1, 2]
        values = [0.1, 0.2, 0.9, 0.6]
        groups = ["a", "a", "b", "b"]
        self.assertAlmostEqual(
            stats.grouped(stats.spearman, depths, values, groups), 0.0
        )
        self.assertAlmostEqual(
            stats.grouped(stats.slope, depths, values, groups), -0.1
        )
        out = stats.depth_correlation_accuracy(
            depths, values, n_test=100000, resamples=50, groups=groups
        )
        self.assertAlmostEqual(out["slope"], -0.1)
        self.assertAllClose(
            [out["slope_low"], out["slope_high"]], [-0.1, -0.1], atol=0.01
        )


def test_readout_seeds_widen_the_accuracy_interval():
    from keras_snp.reproduce import stats as stats_lib

    depths = [1, 2, 3, 4]
    base = np.array([0.30, 0.32, 0.34, 0.36])
    alone = stats_lib.depth_correlation_accuracy(
        depths, base, 10000, resamples=400
    )
    # Two readout seeds whose accuracies disagree by 3 points per tap.
    spread = np.stack([base - 0.015, base + 0.015], axis=1)
    spread[1] = spread[1][::-1]  # the seeds disagree on the order too
    both = stats_lib.depth_correlation_accuracy(
        depths, base, 10000, resamples=400, seed_accuracies=spread
    )
    width = lambda r: r["slope_high"] - r["slope_low"]  # noqa: E731
    assert width(both) > 1.5 * width(alone)
    assert both["low"] < alone["low"]  # rho is no longer sure
    np.testing.assert_allclose(both["slope"], alone["slope"])
