import numpy as np

from keras_snp.snp import resolve_taps
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
            ["encoder_1_mha", "encoder_1_ff_hidden", "encoder_1_out",
             "encoder_2_mha", "encoder_2_ff_hidden", "encoder_2_out"])
        self.assertEqual([s.kind for s in specs], ["mha", "ff", "res"] * 2)
        self.assertEqual([s.encoder for s in specs], [1, 1, 1, 2, 2, 2])
        self.assertEqual([s.nodes for s in specs], [16, 32, 16] * 2)
        self.assertEqual({s.tokens for s in specs}, {64})
        np.testing.assert_array_equal(specs[0].head, [0] * 8 + [1] * 8)
        np.testing.assert_array_equal(specs[1].head, [-1] * 32)
        np.testing.assert_array_equal(specs[2].head, [-1] * 16)

    def test_kinds_and_all(self):
        model = tiny_cct()
        self.assertEqual([s.name for s in taps(model, kinds=("ff",))],
                         ["encoder_1_ff_hidden", "encoder_2_ff_hidden"])
        self.assertEqual(len(resolve_taps(model, "all")), 6)
        self.assertEqual([s.name for s in resolve_taps(
            model, "encoder_2_out,encoder_1_mha")],
            ["encoder_2_out", "encoder_1_mha"])
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
        with self.assertRaisesRegex(ValueError, "Unknown tap layer "
                                    "`encoder_9_mha`.*encoder_1_qkv"):
            resolve_taps(model, ["encoder_9_mha"])
        with self.assertRaisesRegex(ValueError, "`sequence_pool` must "
                                    "output a rank-3.*\\(None, 16\\)"):
            resolve_taps(model, ["sequence_pool"])
        with self.assertRaisesRegex(ValueError, "twice"):
            resolve_taps(model, ["encoder_1_out", "encoder_1_out"])
