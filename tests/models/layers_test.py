import numpy as np
import pytest

from keras_snp.models import attention
from keras_snp.models import layers
from tests.helpers import TestCase


def softmax(x):
    e = np.exp(x - x.max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


class LayersTest(TestCase):
    def test_image_normalization(self):
        self.run_layer_test(
            layers.ImageNormalization,
            init_kwargs={"mean": (0.5, 0.5, 0.5), "std": (0.25, 0.5, 1.0)},
            input_shape=(2, 4, 4, 3),
            expected_output_shape=(2, 4, 4, 3),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=0,
        )
        out = layers.ImageNormalization((0.5,) * 3, (0.25, 0.5, 1.0))(
            np.full((1, 1, 1, 3), 255.0)
        )
        self.assertAllClose(out[0, 0, 0], [2.0, 1.0, 0.5])
        with self.assertRaisesRegex(ValueError, "std"):
            layers.ImageNormalization(std=(1, 0, 1))

    def test_stochastic_depth(self):
        self.run_layer_test(
            layers.StochasticDepth,
            init_kwargs={"rate": 0.5, "seed": 1},
            input_shape=(4, 3, 2),
            expected_output_shape=(4, 3, 2),
            expected_num_seed_generators=1,
            run_training_check=False,
        )
        x = np.ones((256, 2, 2), "float32")
        out = np.asarray(layers.StochasticDepth(0.5, seed=3)(x, training=True))
        per_sample = out.reshape(256, -1)
        # Whole samples are dropped or scaled by 1 / keep.
        assert set(np.unique(per_sample)) <= {0.0, 2.0}
        assert (per_sample.min(1) == per_sample.max(1)).all()
        assert 0.3 < (per_sample[:, 0] == 0).mean() < 0.7
        self.assertAllClose(layers.StochasticDepth(0.5)(x), x)

    def test_per_head_attention_matches_numpy(self):
        self.run_layer_test(
            attention.PerHeadAttention,
            init_kwargs={"num_heads": 2, "key_dim": 3},
            input_shape=(2, 5, 18),
            expected_output_shape=(2, 5, 6),
            expected_num_trainable_weights=0,
        )
        rng = np.random.default_rng(0)
        qkv = rng.normal(size=(2, 5, 4 * 3 + 2 + 4)).astype("float32")
        layer = attention.PerHeadAttention(2, 3, value_dims=[2, 4])
        out = np.asarray(layer(qkv))
        q, k, v = qkv[..., :6], qkv[..., 6:12], qkv[..., 12:]
        expected = []
        for h, (start, width) in enumerate([(0, 2), (2, 4)]):
            qh, kh = q[..., 3 * h : 3 * h + 3], k[..., 3 * h : 3 * h + 3]
            w = softmax(qh @ kh.transpose(0, 2, 1) / np.sqrt(3))
            expected.append(w @ v[..., start : start + width])
        self.assertAllClose(out, np.concatenate(expected, -1), atol=1e-5)
        assert list(layer.head_of_node) == [0, 0, 1, 1, 1, 1]
        with self.assertRaisesRegex(ValueError, "value_dims"):
            attention.PerHeadAttention(2, 3, value_dims=[3])

    def test_sequence_pooling_and_position_embedding(self):
        self.run_layer_test(
            layers.SequencePooling,
            init_kwargs={},
            input_shape=(2, 4, 6),
            expected_output_shape=(2, 6),
            expected_num_trainable_weights=2,
        )
        self.run_layer_test(
            layers.PositionEmbedding,
            init_kwargs={"kind": "learnable"},
            input_shape=(2, 4, 6),
            expected_output_shape=(2, 4, 6),
            expected_num_trainable_weights=1,
        )
        table = layers.sine_position_table(3, 4)[0]
        self.assertAllClose(
            table[1], [np.sin(1), np.cos(1), np.sin(0.01), np.cos(0.01)]
        )

    def test_tokenizer_shape_and_pool_padding(self):
        tokenizer = layers.ConvTokenizer(
            embed_dim=4, kernel_size=7, num_convs=2
        )
        assert tokenizer.stride == 2 and tokenizer.padding == 3
        assert tokenizer.compute_output_shape((1, 224, 224, 3)) == (1, 196, 4)
        assert tokenizer(np.zeros((1, 224, 224, 3))).shape == (1, 196, 4)


@pytest.mark.parametrize("size", [1, 2])
def test_tokenizer_rejects_bad_arguments(size):
    with pytest.raises(ValueError, match="num_convs"):
        layers.ConvTokenizer(4, kernel_size=3, num_convs=size - 2)
