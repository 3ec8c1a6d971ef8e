import os

import keras
import numpy as np

import keras_snp  # noqa: F401  (registers the layers)
from keras_snp.models.attention import PerHeadAttention
from keras_snp.pruning import count_flops
from keras_snp.pruning import prune
from keras_snp.pruning import shrink
from keras_snp.pruning import strip
from keras_snp.pruning.shrinking import kept_nodes
from keras_snp.pruning.wrapper import ANDCPrune
from tests.helpers import TestCase
from tests.helpers import tiny_cct


def _random_biases(model, rng):
    """Nonzero biases, so removing a unit without folding would show."""
    for layer in model.layers:
        bias = getattr(layer, "bias", None)
        if isinstance(layer, keras.layers.Dense) and bias is not None:
            bias.assign(rng.normal(0, 0.5, bias.shape))


def _masks(model, rng):
    masks = {}
    for layer in model.layers:
        if (
            layer.name.endswith(("ff_hidden", "ff_out", "attn_proj", "qkv"))
            or layer.name == "classifier"
        ):
            masks[layer.name] = rng.random(layer.kernel.shape) > 0.4
    # encoder 1: hidden units 0-4 lose their outputs, 5-9 their inputs
    masks["encoder_1_ff_out"][:5] = False
    masks["encoder_1_ff_hidden"][:, 5:10] = False
    # encoder 1: head 1 (value nodes 8..15) loses every output connection
    masks["encoder_1_attn_proj"][8:] = False
    # encoder 2: value nodes 1, 2 lose their outputs, 12 its inputs
    masks["encoder_2_attn_proj"][[1, 2]] = False
    masks["encoder_2_qkv"][:] = True
    masks["encoder_2_qkv"][:, 32 + 12] = False
    masks["encoder_1_qkv"][:] = True
    return masks


class ShrinkTest(TestCase):
    def setUp(self):
        rng = np.random.default_rng(0)
        self.model = tiny_cct(num_classes=5)
        _random_biases(self.model, rng)
        self.pruned = prune(self.model, masks=_masks(self.model, rng))
        self.images = rng.uniform(0, 255, (4, 16, 16, 3)).astype("float32")

    def test_shrink_is_exact_and_smaller(self):
        small, removed = shrink(self.pruned, return_report=True)
        self.assertEqual(removed["encoder_1_ff_hidden"], 10)
        self.assertEqual(removed["encoder_1_heads"], 1)
        self.assertEqual(removed["encoder_1_mha"], 8)
        self.assertEqual(removed["encoder_2_mha"], 3)
        self.assertEqual(removed["encoder_2_heads"], 0)
        mha1 = small.get_layer("encoder_1_mha")
        self.assertIsInstance(mha1, PerHeadAttention)
        self.assertEqual((mha1.num_heads, mha1.value_dims), (1, [8]))
        self.assertEqual(small.get_layer("encoder_2_mha").value_dims, [6, 7])
        self.assertEqual(small.get_layer("encoder_1_qkv").units, 8 + 8 + 8)
        self.assertEqual(small.get_layer("encoder_1_ff_hidden").units, 22)
        expected = self.pruned.predict_on_batch(self.images)
        got = small.predict_on_batch(self.images)
        self.assertLess(np.abs(expected - got).max(), 1e-5)
        self.assertLess(small.count_params(), self.model.count_params())
        self.assertLess(count_flops(small), count_flops(self.model))

    def test_kept_nodes_pair_pruned_with_unpruned_nodes(self):
        small = shrink(self.pruned)
        kept = kept_nodes(self.pruned)
        self.assertEqual(
            kept["encoder_1_ff_hidden"], list(range(10, 32))
        )  # units 0-9 removed above
        self.assertEqual(kept["encoder_1_mha"], list(range(8)))
        self.assertEqual(
            kept["encoder_2_mha"],
            [i for i in range(16) if i not in (1, 2, 12)],
        )
        plain = strip(self.pruned)
        for name in ("encoder_1_ff_hidden", "encoder_2_ff_hidden"):
            self.assertAllClose(
                small.get_layer(name).kernel,
                keras.ops.take(plain.get_layer(name).kernel, kept[name], 1),
            )

    def test_folding_is_needed(self):
        """Dropping the input-less units without folding their bias breaks."""
        plain = strip(self.pruned)
        broken = keras.models.clone_model(plain)
        broken.set_weights(plain.get_weights())
        w2, b2 = broken.get_layer("encoder_1_ff_out").get_weights()
        w2[5:10] = 0.0
        broken.get_layer("encoder_1_ff_out").set_weights([w2, b2])
        diff = np.abs(
            broken.predict_on_batch(self.images)
            - plain.predict_on_batch(self.images)
        ).max()
        self.assertGreater(diff, 1e-4)

    def test_nothing_to_remove(self):
        ones = {"classifier": np.ones((16, 5))}
        small = shrink(prune(self.model, masks=ones))
        self.assertEqual(small.count_params(), self.model.count_params())
        self.assertAllClose(
            small.predict_on_batch(self.images),
            self.model.predict_on_batch(self.images),
            atol=1e-5,
        )

    def test_shrunken_round_trip_safe_mode(self):
        small = shrink(self.pruned)
        path = os.path.join(self.get_temp_dir(), "small.keras")
        small.save(path)
        loaded = keras.models.load_model(path, safe_mode=True)
        self.assertEqual(loaded.get_layer("encoder_1_mha").value_dims, [8])
        self.assertAllClose(
            loaded.predict_on_batch(self.images),
            small.predict_on_batch(self.images),
            atol=1e-6,
        )

    def test_count_flops_by_hand(self):
        # 16 px, conv k3 s1 p1 -> 16x16, pool -> 8x8 = 64 tokens of 16
        n, d, h, k = 64, 16, 32, 5
        conv = 2 * 16 * 16 * 9 * 3 * 16
        encoder = (
            2 * n * d * 3 * d  # qkv
            + 2 * n * n * (d + d)  # QK^T and weights x V
            + 2 * n * d * d  # attn_proj
            + 2 * 2 * n * d * h
        )  # ff_hidden, ff_out
        expected = conv + 2 * encoder + 4 * n * d + 2 * d * k
        self.assertEqual(count_flops(self.model), expected)
        # sparse: each masked-out entry saves 2 FLOPs per token it meets
        saved = 0
        for layer in self.pruned.layers:
            if isinstance(layer, ANDCPrune):
                zeros = int((keras.ops.convert_to_numpy(layer.mask) == 0).sum())
                saved += 2 * (1 if layer.name == "classifier" else n) * zeros
        self.assertGreater(saved, 0)
        masked = count_flops(self.pruned, sparse=True)
        self.assertEqual(masked, expected - saved)
        self.assertEqual(count_flops(self.pruned), expected)
