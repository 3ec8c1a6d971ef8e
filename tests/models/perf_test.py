"""Performance options that must not change results: fused attention.

The FLOP counter is tested in `flops_test.py`."""

import numpy as np

from keras_snp.models import PerHeadAttention
from tests.helpers import TestCase
from tests.helpers import tiny_cct


def _reference_attention(qkv, heads, key_dim, value_dims):
    """Slow per-head numpy softmax attention."""
    qkv = np.asarray(qkv, "float64")
    width = heads * key_dim
    out, start = [], 2 * width
    for h in range(heads):
        q = qkv[..., h * key_dim : (h + 1) * key_dim]
        k = qkv[..., width + h * key_dim : width + (h + 1) * key_dim]
        v = qkv[..., start : start + value_dims[h]]
        start += value_dims[h]
        s = q @ np.swapaxes(k, -1, -2) / np.sqrt(key_dim)
        w = np.exp(s - s.max(-1, keepdims=True))
        out.append((w / w.sum(-1, keepdims=True)) @ v)
    return np.concatenate(out, -1)


class FusedAttentionTest(TestCase):
    def test_fused_and_explicit_match_the_reference(self):
        rng = np.random.default_rng(0)
        qkv = rng.normal(size=(2, 5, 3 * 2 * 4)).astype("float32")
        expected = _reference_attention(qkv, 2, 4, [4, 4])
        for implementation in ("fused", "explicit", "auto"):
            layer = PerHeadAttention(2, 4, implementation=implementation)
            self.assertAllClose(layer(qkv), expected, atol=1e-5)

    def test_unequal_value_widths_fall_back_to_explicit(self):
        rng = np.random.default_rng(1)
        qkv = rng.normal(size=(1, 3, 2 * 2 * 4 + 5)).astype("float32")
        layer = PerHeadAttention(
            2, 4, value_dims=[2, 3], implementation="fused"
        )
        self.assertFalse(layer._use_fused(training=False))
        expected = _reference_attention(qkv, 2, 4, [2, 3])
        self.assertAllClose(layer(qkv), expected, atol=1e-5)

    def test_attention_dropout_in_training_uses_explicit(self):
        layer = PerHeadAttention(2, 4, dropout=0.1, implementation="fused")
        self.assertFalse(layer._use_fused(training=True))
        self.assertTrue(layer._use_fused(training=False))

    def test_bad_implementation_and_config_round_trip(self):
        with self.assertRaisesRegex(ValueError, "`implementation`"):
            PerHeadAttention(2, 4, implementation="flash")
        layer = PerHeadAttention(2, 4, implementation="explicit")
        config = layer.get_config()
        self.assertEqual(config["implementation"], "explicit")
        self.assertEqual(
            PerHeadAttention.from_config(config).implementation, "explicit"
        )

    def test_softmax_in_compute_dtype(self):
        with self.assertRaisesRegex(ValueError, "`softmax_dtype`"):
            PerHeadAttention(2, 4, softmax_dtype="float16")
        rng = np.random.default_rng(3)
        qkv = rng.normal(size=(2, 6, 24)).astype("float32")
        expected = _reference_attention(qkv, 2, 4, [4, 4])
        for softmax_dtype in ("float32", "compute"):
            layer = PerHeadAttention(
                2,
                4,
                implementation="explicit",
                softmax_dtype=softmax_dtype,
                dtype="mixed_bfloat16",
            )
            out = layer(qkv)
            self.assertIn("bfloat16", str(out.dtype))
            self.assertAllClose(np.asarray(out, "float32"), expected, atol=5e-2)
            self.assertEqual(
                PerHeadAttention.from_config(layer.get_config()).softmax_dtype,
                softmax_dtype,
            )

    def test_cct_outputs_do_not_depend_on_the_implementation(self):
        rng = np.random.default_rng(2)
        images = rng.uniform(0, 255, (2, 16, 16, 3)).astype("float32")
        weights = None
        outputs = []
        for implementation in ("fused", "explicit"):
            model = tiny_cct(attention=implementation)
            if weights is None:
                weights = [
                    rng.normal(0, 0.3, w.shape).astype("float32")
                    for w in model.get_weights()
                ]
            model.set_weights(weights)
            outputs.append(np.asarray(model(images)))
        self.assertGreater(np.std(outputs[1]), 1e-2)  # not a trivial output
        self.assertAllClose(outputs[0], outputs[1], atol=1e-4, rtol=1e-4)
