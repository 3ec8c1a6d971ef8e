import os

import keras
import numpy as np

import keras_snp  # noqa: F401  (registers the layers)
from keras_snp.pruning import ANDCPrune
from keras_snp.pruning import connection_masks
from keras_snp.pruning import magnitude_masks
from keras_snp.pruning import prune
from keras_snp.pruning import random_masks
from keras_snp.pruning import strip
from keras_snp.pruning.andc import pruning_taps
from keras_snp.snp import SNPResult
from tests.helpers import TestCase
from tests.helpers import tiny_cct
from tests.pruning.planted import planted_set_tap

K = 5


def _sets(n, seed):
    rng = np.random.default_rng(seed)
    sets = []
    for d in range(n):
        if d % 4 == 3:
            sets.append([])
        else:
            sets.append(sorted(rng.choice(K, 1 + d % 3, replace=False)))
    return sets


def planted(model):
    """Planted sets on every tap the `all` scope reads."""
    taps, sets = {}, {}
    for i, name in enumerate(pruning_taps(model, "all")):
        n = model.get_layer(name).output.shape[-1]
        sets[name] = _sets(n, i)
        taps[name] = planted_set_tap(name, sets[name], K, seed=i)
    return SNPResult(taps=taps, theta=0.3), sets


def reference_mask(sets_in, sets_out):
    """Slow obvious reference: keep (u, v) iff the sets share a label."""
    mask = np.zeros((len(sets_in), len(sets_out)), bool)
    for u, a in enumerate(sets_in):
        for v, b in enumerate(sets_out):
            mask[u, v] = bool(set(a) & set(b))
    return mask


class ANDCMaskTest(TestCase):
    def setUp(self):
        self.model = tiny_cct(num_classes=K)

    def test_readout_scope(self):
        result, sets = planted(self.model)
        masks = connection_masks(self.model, result, scope="readout")
        self.assertEqual(list(masks), ["classifier"])
        expected = np.zeros((16, K), bool)
        for d, labels in enumerate(sets["sequence_pool"]):
            expected[d, labels] = True
        self.assertAllEqual(masks["classifier"], expected)
        self.assertEqual(masks["classifier"][3].sum(), 0)  # empty D_d

    def test_internal_scope(self):
        result, sets = planted(self.model)
        masks = connection_masks(self.model, result, scope="internal")
        self.assertEqual(
            sorted(masks),
            [
                "encoder_1_attn_proj",
                "encoder_1_ff_hidden",
                "encoder_1_ff_out",
                "encoder_2_attn_proj",
                "encoder_2_ff_hidden",
                "encoder_2_ff_out",
            ],
        )
        self.assertAllEqual(
            masks["encoder_1_ff_hidden"],
            reference_mask(sets["encoder_1_norm"], sets["encoder_1_ff_hidden"]),
        )
        self.assertAllEqual(
            masks["encoder_1_ff_out"],
            reference_mask(sets["encoder_1_ff_hidden"], sets["encoder_1_out"]),
        )
        self.assertAllEqual(
            masks["encoder_2_attn_proj"],
            reference_mask(sets["encoder_2_mha"], sets["encoder_2_attn_add"]),
        )
        self.assertGreater(masks["encoder_2_ff_out"].mean(), 0)
        self.assertLess(masks["encoder_2_ff_out"].mean(), 1)

    def test_errors(self):
        result, _ = planted(self.model)
        with self.assertRaisesRegex(ValueError, "`scope` must be one of"):
            connection_masks(self.model, result, scope="heads")
        other = tiny_cct(num_classes=K, embed_dim=8)
        with self.assertRaisesRegex(ValueError, "was the SNP computed"):
            connection_masks(other, result)

    def test_random_control_keeps_counts_per_node(self):
        result, _ = planted(self.model)
        masks = connection_masks(self.model, result)
        control = random_masks(masks, seed=3)
        for name, mask in masks.items():
            self.assertAllEqual(control[name].sum(axis=1), mask.sum(axis=1))
        self.assertFalse(
            all(np.array_equal(control[n], masks[n]) for n in masks)
        )
        again = random_masks(masks, seed=3)
        for name in masks:
            self.assertAllEqual(again[name], control[name])

    def test_magnitude_control_same_sparsity(self):
        result, _ = planted(self.model)
        masks = connection_masks(self.model, result)
        control = magnitude_masks(self.model, masks)
        for name, mask in masks.items():
            self.assertEqual(control[name].sum(), mask.sum())
            kernel = np.abs(np.asarray(self.model.get_layer(name).kernel))
            if 0 < mask.sum() < mask.size:
                self.assertGreaterEqual(
                    kernel[control[name]].min(), kernel[~control[name]].max()
                )


class PruneTest(TestCase):
    def setUp(self):
        self.model = tiny_cct(num_classes=K)
        self.images = (
            np.random.default_rng(0)
            .uniform(0, 255, (3, 16, 16, 3))
            .astype("float32")
        )

    def test_prune_wraps_and_masks(self):
        result, _ = planted(self.model)
        masks = connection_masks(self.model, result)
        pruned = prune(self.model, result)
        for name, mask in masks.items():
            layer = pruned.get_layer(name)
            self.assertIsInstance(layer, ANDCPrune)
            self.assertAllEqual(np.asarray(layer.mask), mask)
        self.assertEqual(
            [l.name for l in pruned.layers][1:],
            [l.name for l in self.model.layers][1:],
        )
        # by hand: a model with the kernels multiplied by the masks
        reference = keras.models.clone_model(self.model)
        reference.set_weights(self.model.get_weights())
        for name, mask in masks.items():
            layer = reference.get_layer(name)
            layer.kernel.assign(np.asarray(layer.kernel) * mask)
        self.assertAllClose(
            pruned.predict_on_batch(self.images),
            reference.predict_on_batch(self.images),
            atol=1e-5,
        )
        self.assertAllClose(
            strip(pruned).predict_on_batch(self.images),
            reference.predict_on_batch(self.images),
            atol=1e-5,
        )
        # all-ones masks change nothing
        ones = {n: np.ones_like(m) for n, m in masks.items()}
        self.assertAllClose(
            prune(self.model, masks=ones).predict_on_batch(self.images),
            self.model.predict_on_batch(self.images),
            atol=1e-6,
        )

    def test_keras_round_trip_safe_mode(self):
        result, _ = planted(self.model)
        pruned = prune(self.model, result)
        path = os.path.join(self.get_temp_dir(), "pruned.keras")
        pruned.save(path)
        loaded = keras.models.load_model(path, safe_mode=True)
        self.assertIsInstance(loaded.get_layer("classifier"), ANDCPrune)
        self.assertAllEqual(
            np.asarray(loaded.get_layer("classifier").mask),
            np.asarray(pruned.get_layer("classifier").mask),
        )
        self.assertAllClose(
            loaded.predict_on_batch(self.images),
            pruned.predict_on_batch(self.images),
            atol=1e-6,
        )
