import numpy as np

from keras_snp.heads import experts
from keras_snp.snp import TapResult
from keras_snp.snp import clusters
from tests.heads.planted import planted_tap
from tests.helpers import TestCase


def slow_head_sets(V, head, theta):
    """Reference: loop over heads, sum node matrices, take the diagonal."""
    out = []
    for h in range(head.max() + 1):
        VH = sum(V[d] for d in range(len(head)) if head[d] == h)
        out.append(clusters.diagonal_set(VH, theta).tolist())
    return out


def slow_null(V, head, theta, samples, seed):
    """Reference null: one permutation at a time, nodes moved by loops."""
    rng = np.random.default_rng(seed)
    n = len(head)
    D = clusters.diagonal_mask(V, theta)
    Ls, counts = [], []
    for _ in range(samples):
        perm = rng.permutation(n)
        new_head = np.empty(n, int)
        for i in range(n):
            new_head[perm[i]] = head[i]
        assert np.array_equal(np.bincount(new_head), np.bincount(head))
        L = np.zeros((head.max() + 1, V.shape[1]), bool)
        count = np.zeros(L.shape)
        for h in range(L.shape[0]):
            members = np.flatnonzero(new_head == h)
            L[h] = clusters.diagonal_mask(V[members].sum(axis=0), theta)
            count[h] = D[members].sum(axis=0)
        Ls.append(L)
        counts.append(count)
    return np.array(Ls), np.array(counts)


class HeadMatricesTest(TestCase):
    def test_additivity_of_readout_fields(self):
        # phi_d(x, c) = sum_t W[c, t, d] A[x, t, d]; V_d = per-label mean.
        rng = np.random.default_rng(0)
        K, N, n, X = 4, 3, 6, 40
        A = rng.normal(size=(X, N, n))
        W = rng.normal(size=(K, N, n))
        y = np.arange(X) % K
        head = np.array([0, 0, 1, 1, 1, 2])
        phi = np.einsum("xtd,ctd->xdc", A, W)  # (X, n, K)
        V = np.stack(
            [[phi[y == i, d].mean(axis=0) for i in range(K)] for d in range(n)]
        )
        VH = experts.head_matrices(V, head)
        for h in range(3):
            head_phi = phi[:, head == h].sum(axis=1)  # silence all but h
            expected = np.stack(
                [head_phi[y == i].mean(axis=0) for i in range(K)]
            )
            self.assertAllClose(VH[h], expected, atol=1e-10)
            self.assertAllClose(VH[h], V[head == h].sum(axis=0))

    def test_label_sets_match_slow_reference(self):
        tap = planted_tap(mixed=False, seed=3)
        result = experts.analyze_encoder(tap, 0.3, null_samples=0)
        slow = slow_head_sets(tap.V, tap.head, 0.3)
        self.assertEqual([np.flatnonzero(r).tolist() for r in result.L], slow)
        D = clusters.diagonal_mask(tap.V, 0.3)
        for h in range(3):
            self.assertAllClose(result.counts[h], D[tap.head == h].sum(axis=0))

    def test_bad_head_array(self):
        tap = planted_tap()
        with self.assertRaisesRegex(ValueError, "`head` must give every"):
            experts.head_matrices(tap.V, -np.ones(24, int))
        with self.assertRaisesRegex(ValueError, "shape \\(24,\\)"):
            experts.head_matrices(tap.V, np.zeros(5, int))


class MetricsTest(TestCase):
    def test_hand_made_sets(self):
        L = np.array([[1, 1, 0, 0, 0], [0, 1, 1, 0, 0], [0, 0, 0, 0, 0]], bool)
        counts = np.array(
            [[2, 1, 0, 0, 0], [0, 1, 3, 0, 0], [0, 0, 1, 0, 0]], float
        )
        m = experts.set_metrics(L, counts)
        self.assertAllClose(m["coverage"], 3 / 5)
        # pairs (0,1): 1/3, (0,2): 0/2, (1,2): 0/2.
        self.assertAllClose(m["mean_jaccard"], (1 / 3) / 3)
        self.assertAllClose(m["mean_labels_per_head"], 4 / 3)
        self.assertAllClose(m["mean_heads_per_label"], 4 / 3)
        # label 0: one head -> 0; label 1: two heads 1/2 -> log2/log3;
        # label 2: 3/4, 1/4.
        e2 = -(0.75 * np.log(0.75) + 0.25 * np.log(0.25)) / np.log(3)
        expected = (0 + np.log(2) / np.log(3) + e2) / 3
        self.assertAllClose(m["mean_entropy"], expected)

    def test_null_stat(self):
        stat = experts.null_stat(1.5, [1, 2, 3, 4, np.nan], "lower")
        self.assertEqual(stat.samples, 4)
        self.assertAllClose(stat.p, 2 / 5)
        self.assertAllClose(stat.z, (1.5 - 2.5) / np.std([1, 2, 3, 4]))
        stat = experts.null_stat(1.5, [1, 2, 3, 4], "higher")
        self.assertAllClose(stat.p, 4 / 5)
        with self.assertRaisesRegex(ValueError, "`direction`"):
            experts.null_stat(1, [1], "up")


class NullModelTest(TestCase):
    def test_vectorised_null_matches_loops(self):
        tap = planted_tap(seed=5)
        D = clusters.diagonal_mask(tap.V, 0.3)
        L, counts = experts.null_samples_of(
            tap.V, D, tap.head, 3, 0.3, 7, seed=11, chunk=3
        )
        L_ref, counts_ref = slow_null(tap.V, tap.head, 0.3, 7, seed=11)
        self.assertTrue(np.array_equal(L, L_ref))
        self.assertAllClose(counts, counts_ref)
        # Sizes kept: every sample distributes all 24 nodes' labels.
        self.assertAllClose(counts.sum(axis=1), np.tile(D.sum(0), (7, 1)))

    def test_planted_specialisation_beats_null(self):
        tap = planted_tap(mixed=False, seed=1)
        result = experts.analyze_encoder(tap, 0.3, null_samples=100, seed=0)
        for h in range(3):
            self.assertEqual(
                np.flatnonzero(result.L[h]).tolist(),
                list(range(4 * h, 4 * h + 4)),
            )
        self.assertAllClose(result.metrics["coverage"], 1.0)
        self.assertAllClose(result.metrics["mean_jaccard"], 0.0)
        self.assertAllClose(result.metrics["mean_entropy"], 0.0)
        for key in ("mean_entropy", "mean_jaccard"):
            self.assertAllClose(result.null[key].p, 1 / 101)
            self.assertLess(result.null[key].z, -3)
        self.assertTrue(result.symmetry_breaking)

    def test_mixed_heads_do_not_beat_null(self):
        tap = planted_tap(mixed=True, seed=1)
        result = experts.analyze_encoder(tap, 0.3, null_samples=100, seed=0)
        self.assertGreater(result.metrics["mean_jaccard"], 0.5)
        self.assertGreater(result.metrics["mean_entropy"], 0.9)
        self.assertGreater(result.null["mean_entropy"].p, 0.5)
        self.assertFalse(result.symmetry_breaking)

    def test_single_head_has_no_entropy(self):
        tap = planted_tap(H=1, K=4, nodes_per_head=3)
        result = experts.analyze_encoder(tap, 0.3, null_samples=5)
        self.assertTrue(np.isnan(result.metrics["mean_entropy"]))
        self.assertFalse(result.symmetry_breaking)

    def test_cct7_scale_null_has_every_sample(self):
        # 4 heads x 64 nodes, K = 100: one CCT-7/3x1 encoder, 100 shuffles
        # (its speed is measured by scripts/bench_snp.py, not here).
        rng = np.random.default_rng(0)
        V = rng.normal(size=(256, 100, 100)).astype("float32")
        tap = TapResult(
            "encoder_1_mha",
            "mha",
            1,
            V,
            np.repeat(np.arange(4), 64),
            tokens=256,
        )
        result = experts.analyze_encoder(tap, 0.3, null_samples=100)
        self.assertEqual(result.null["coverage"].samples, 100)


def slow_holm(p):
    """Holm by its definition: the adjusted p of test i is the largest,
    over the tests j ranked at or before it, of (m - rank_j) p_j."""
    m = len(p)
    ranked = sorted(range(m), key=lambda i: p[i])
    out = [0.0] * m
    for position, i in enumerate(ranked):
        out[i] = min(
            1.0,
            max((m - r) * p[ranked[r]] for r in range(position + 1)),
        )
    return out


class HolmTest(TestCase):
    def test_holm_matches_its_definition(self):
        rng = np.random.default_rng(0)
        for m in (1, 2, 5, 12):
            p = rng.uniform(0, 0.2, m)
            self.assertAllClose(experts.holm_adjusted(p), slow_holm(list(p)))

    def test_planted_experts_survive_holm_over_eight_encoders(self):
        # Eight encoders: one planted with experts, seven with mixed heads.
        def encoders(samples):
            taps = [planted_tap(mixed=False, seed=1)]
            taps += [planted_tap(mixed=True, seed=s) for s in range(2, 9)]
            found = [
                experts.analyze_encoder(t, 0.3, null_samples=samples, seed=i)
                for i, t in enumerate(taps)
            ]
            experts.correct_across_encoders(found, 0.05)
            return found

        found = encoders(1000)
        planted = found[0].null["mean_entropy"]
        self.assertAllClose(planted.p, 1 / 1001)
        self.assertLessEqual(planted.p_holm, 8 / 1001 + 1e-12)
        self.assertTrue(found[0].symmetry_breaking)
        self.assertFalse(any(e.symmetry_breaking for e in found[1:]))
        # With 100 shuffles the smallest p, 1/101, cannot pass Holm over 8.
        self.assertFalse(encoders(100)[0].symmetry_breaking)


def slow_renamed_null(L, counts, samples, seed):
    """Reference: rename each head's labels one sample and head at a time."""
    rng = np.random.default_rng(seed)
    keys = rng.random((samples, *L.shape))
    L0, c0 = np.zeros((samples, *L.shape), bool), np.zeros((samples, *L.shape))
    for s in range(samples):
        for h in range(L.shape[0]):
            order = np.argsort(keys[s, h])
            for new, old in enumerate(order):
                L0[s, h, new], c0[s, h, new] = L[h, old], counts[h, old]
    return L0, c0


class RenamedLabelsNullTest(TestCase):
    def test_vectorised_renaming_matches_loops(self):
        rng = np.random.default_rng(0)
        L = rng.random((3, 10)) < 0.4
        counts = rng.integers(0, 5, (3, 10)).astype(float)
        L0, c0 = experts.label_permutation_samples(L, counts, 6, seed=4)
        L_ref, c_ref = slow_renamed_null(L, counts, 6, seed=4)
        self.assertTrue(np.array_equal(L0, L_ref))
        self.assertAllClose(c0, c_ref)
        # Each head keeps its own number of labels.
        self.assertTrue((L0.sum(-1) == L.sum(-1)).all())

    def test_shared_out_labels_beat_it_and_shared_labels_do_not(self):
        planted = planted_tap(mixed=False, seed=1)  # 3 heads x 4 of 12
        result = experts.analyze_encoder(planted, 0.3, null_samples=1000)
        for key in ("mean_entropy", "mean_jaccard"):
            self.assertLess(result.null_permuted[key].p, 0.01)
        self.assertTrue(result.symmetry_breaking)
        # Every head expert in the same labels: far more overlap than
        # heads that picked their labels on their own.
        same = planted_tap(mixed=False, seed=1)
        V = np.array(same.V)
        for h in range(1, 3):
            V[same.head == h] = V[same.head == 0]
        same.V = V
        shared = experts.analyze_encoder(same, 0.3, null_samples=1000)
        self.assertGreater(shared.null_permuted["mean_jaccard"].p, 0.5)
        self.assertFalse(shared.symmetry_breaking)


class ContrastIntervalTest(TestCase):
    def test_mean_contrast_matches_a_loop_and_the_interval_covers_it(self):
        from keras_snp.heads import ablation
        from keras_snp.sites.hooks import per_label

        rng = np.random.default_rng(0)
        K, H, N = 6, 2, 600
        labels = np.arange(N) % K
        L = np.array([[1, 1, 1, 0, 0, 0], [0, 0, 0, 1, 1, 1]], bool)
        base = rng.random(N) < 0.8
        # Silencing head h costs 40 points on its own labels only.
        hits = np.stack(
            [base & ~((rng.random(N) < 0.5) & L[h][labels]) for h in range(H)]
        )
        drops = per_label(base, labels, K) - per_label(hits, labels, K)
        loop = np.mean(
            [drops[h][L[h]].mean() - drops[h][~L[h]].mean() for h in range(H)]
        )
        self.assertAllClose(ablation.mean_contrast(drops, L), loop)
        low, high = ablation.contrast_interval(labels, base, hits, L, K)
        self.assertLess(low, loop)
        self.assertLess(loop, high)
        self.assertGreater(low, 0.2)  # a planted 0.4 contrast is found
        # No effect planted: the interval holds zero.
        same = np.stack([base, base])
        low, high = ablation.contrast_interval(labels, base, same, L, K)
        self.assertLessEqual(low, 0.0)
        self.assertGreaterEqual(high, 0.0)
