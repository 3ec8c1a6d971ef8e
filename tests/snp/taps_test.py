import keras
import numpy as np

from keras_snp.snp import resolve_taps
from keras_snp.snp import tap_model
from keras_snp.snp import taps
from tests.helpers import TestCase
from tests.helpers import tiny_cct
from tests.snp.toy import small_cnn


class TapsTest(TestCase):
    def test_cct_default_taps(self):
        model = tiny_cct()
        specs = taps(model)
        self.assertEqual(
            [s.name for s in specs],
            [
                "encoder_1_mha",
                "encoder_1_ff_hidden",
                "encoder_1_out",
                "encoder_2_mha",
                "encoder_2_ff_hidden",
                "encoder_2_out",
            ],
        )
        self.assertEqual([s.kind for s in specs], ["mha", "ff", "res"] * 2)
        self.assertEqual([s.encoder for s in specs], [1, 1, 1, 2, 2, 2])
        self.assertEqual([s.nodes for s in specs], [16, 32, 16] * 2)
        self.assertEqual({s.tokens for s in specs}, {64})
        np.testing.assert_array_equal(specs[0].head, [0] * 8 + [1] * 8)
        np.testing.assert_array_equal(specs[1].head, [-1] * 32)
        np.testing.assert_array_equal(specs[2].head, [-1] * 16)

    def test_kinds_and_all(self):
        model = tiny_cct()
        self.assertEqual(
            [s.name for s in taps(model, kinds=("ff",))],
            ["encoder_1_ff_hidden", "encoder_2_ff_hidden"],
        )
        self.assertEqual(len(resolve_taps(model, "all")), 6)
        self.assertEqual(
            [
                s.name
                for s in resolve_taps(model, "encoder_2_out,encoder_1_mha")
            ],
            ["encoder_2_out", "encoder_1_mha"],
        )
        with self.assertRaisesRegex(ValueError, "kinds"):
            taps(model, kinds=("attention",))

    def test_cnn_taps(self):
        model = small_cnn()
        block_1, block_2 = resolve_taps(model, ["block_1", "block_2"])
        self.assertEqual((block_1.tokens, block_1.nodes), (256, 8))
        self.assertEqual((block_2.tokens, block_2.nodes), (64, 12))
        self.assertEqual(block_1.kind, "other")
        self.assertIsNone(block_1.encoder)
        with self.assertRaisesRegex(ValueError, "no CCT encoder"):
            taps(model)

    def test_errors(self):
        model = tiny_cct()
        with self.assertRaisesRegex(
            ValueError, "Unknown tap layer `encoder_9_mha`.*encoder_1_qkv"
        ):
            resolve_taps(model, ["encoder_9_mha"])
        rank5 = keras.Sequential(
            [keras.Input((2, 2, 2, 3)), keras.layers.Dense(2, name="volume")]
        )
        with self.assertRaisesRegex(
            ValueError, "`volume` must output a rank-2.*\\(None, 2, 2, 2, 2\\)"
        ):
            resolve_taps(rank5, ["volume"])
        with self.assertRaisesRegex(ValueError, "twice"):
            resolve_taps(model, ["encoder_1_out", "encoder_1_out"])

    def test_rank2_tap_is_one_token(self):
        model = tiny_cct()
        pool, norm = resolve_taps(model, ["sequence_pool", "final_norm"])
        self.assertEqual((pool.tokens, pool.nodes, pool.shape), (1, 16, (16,)))
        self.assertEqual((pool.kind, pool.encoder), ("other", None))
        self.assertEqual((norm.tokens, norm.nodes), (64, 16))
        images = (
            np.random.default_rng(0)
            .uniform(0, 255, (2, 16, 16, 3))
            .astype("float32")
        )
        pooled, normed = tap_model(model, [pool, norm]).predict_on_batch(images)
        self.assertEqual(pooled.shape, (2, 1, 16))
        reference = keras.Model(
            model.inputs, model.get_layer("sequence_pool").output
        )
        self.assertAllClose(
            pooled[:, 0], reference.predict_on_batch(images), atol=1e-6
        )
        self.assertEqual(normed.shape, (2, 64, 16))
