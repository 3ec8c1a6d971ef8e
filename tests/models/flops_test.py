"""`count_flops` against counts worked by hand and a slow analytic CCT."""

import keras
import numpy as np
import pytest

from keras_snp.models import build_cct
from keras_snp.models import get_config
from keras_snp.models.flops import count_flops
from keras_snp.models.flops import trace_shapes
from keras_snp.models.layers import tokenizer_sizes
from tests.helpers import TestCase
from tests.helpers import tiny_cct


def _analytic_cct_flops(variant, **overrides):
    """The CCT's FLOPs written out from its config alone (the reference
    the walker is held to): tokenizer convs, per encoder the packed qkv,
    the scores and weighted sum, the projection and the MLP, then
    sequence pooling and the classifier."""
    config = get_config(variant, **overrides)
    k = config.kernel_size
    steps = tokenizer_sizes(config.image_size, k, config.num_convs)
    widths = [config.intermediate_dim] * (config.num_convs - 1)
    widths.append(config.embed_dim)
    tokenizer = 0
    for (conv, _), c_in, c_out in zip(steps, [3] + widths[:-1], widths):
        tokenizer += 2 * conv * conv * k * k * c_in * c_out
    n = steps[-1][1] ** 2
    d = config.embed_dim
    hidden = int(d * config.mlp_ratio)
    encoder = (
        2 * n * d * 3 * d  # packed qkv
        + 2 * 2 * n * n * d  # scores and weighted sum
        + 2 * n * d * d  # output projection
        + 2 * 2 * n * d * hidden  # MLP
    )
    head = 2 * 2 * n * d + 2 * d * config.num_classes
    return tokenizer + config.num_layers * encoder + head


@pytest.mark.parametrize(
    "variant,size,classes",
    [("cct_2_3x2", 32, 10), ("cct_7_3x1", 32, 100), ("cct_7_7x2", 224, 102)],
)
def test_the_walk_matches_the_analytic_cct(variant, size, classes):
    model = build_cct(variant, num_classes=classes, image_size=size)
    expected = _analytic_cct_flops(
        variant, image_size=size, num_classes=classes
    )
    assert count_flops(model) == expected


def test_a_tiny_cct_by_hand():
    # 16 px, one 3x3 conv 3->16 (16x16 out), pool -> 8x8 = 64 tokens,
    # width 16, hidden 32, 2 layers, 5 classes.
    n, d, m = 64, 16, 32
    tokenizer = 2 * 16 * 16 * 9 * 3 * 16
    layer = 2 * n * d * 3 * d + 4 * n * n * d + 2 * n * d * d + 4 * n * d * m
    head = 4 * n * d + 2 * d * 5
    assert tokenizer + 2 * layer + head == 1_274_016
    assert count_flops(tiny_cct()) == 1_274_016


# Keras' own MultiHeadAttention fails on JAX when value_dim != key_dim
# (keras 3.15.1: "cannot reshape array of shape (1, 36, 2, 1, 5)"), in a
# plain call as well, so there the value width equals the key width.
VALUE_DIM = 3 if keras.backend.backend() == "jax" else 5


def _conv_attention_model():
    """8x8x3 -> Conv2D(4, 3, valid) 6x6 -> 36 tokens of 4 -> MHA(2 heads,
    key 3, value VALUE_DIM) -> Dense(7) per token."""
    images = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, name="conv")(images)
    x = keras.layers.Reshape((36, 4))(x)
    x = keras.layers.MultiHeadAttention(2, 3, value_dim=VALUE_DIM, name="mha")(
        x, x
    )
    x = keras.layers.Dense(7, name="dense")(x)
    return keras.Model(images, x)


def _vgg_like():
    """Two VGG blocks and a classifier; the second block is a nested
    Sequential."""
    block = keras.Sequential(
        [
            keras.Input((8, 8, 8)),
            keras.layers.Conv2D(16, 3, padding="same", name="conv2_1"),
            keras.layers.Conv2D(16, 3, padding="same", name="conv2_2"),
            keras.layers.MaxPooling2D(2),
        ],
        name="block2",
    )
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(8, 3, padding="same", name="conv1_1"),
            keras.layers.MaxPooling2D(2),
            block,
            keras.layers.Flatten(),
            keras.layers.Dense(32, activation="relu", name="fc1"),
            keras.layers.Dense(10, name="fc2"),
        ]
    )


class CountFlopsTest(TestCase):
    def test_conv_attention_dense_by_hand(self):
        model = _conv_attention_model()
        conv = 2 * 6 * 6 * (3 * 3 * 3 * 4)
        t, d, h, k, v = 36, 4, 2, 3, VALUE_DIM
        projections = 2 * t * (2 * d * h * k + d * h * v)  # q, k, v
        scores = 2 * t * t * h * k
        weighted = 2 * t * t * h * v
        output = 2 * t * h * v * d
        dense = 2 * t * d * 7
        expected = conv + projections + scores + weighted + output + dense
        self.assertEqual(count_flops(model), expected)

    def test_vgg_like_sequential_by_hand(self):
        expected = (
            2 * 16 * 16 * (9 * 3 * 8)  # conv1_1
            + 2 * 8 * 8 * (9 * 8 * 16)  # conv2_1
            + 2 * 8 * 8 * (9 * 16 * 16)  # conv2_2
            + 2 * (4 * 4 * 16) * 32  # fc1
            + 2 * 32 * 10  # fc2
        )
        self.assertEqual(count_flops(_vgg_like()), expected)

    def test_sparse_drops_by_exactly_the_zeroed_entries(self):
        model = _conv_attention_model()
        dense_count = count_flops(model)
        self.assertEqual(count_flops(model, sparse=True), dense_count)
        rng = np.random.default_rng(0)
        # (layer, positions each kernel entry meets, entries zeroed)
        plan = [
            (model.get_layer("conv"), 36, 10),
            (model.get_layer("mha").query_dense, 36, 5),
            (model.get_layer("mha").output_dense, 36, 7),
            (model.get_layer("dense"), 36, 3),
        ]
        drop = 0
        for layer, positions, zeros in plan:
            kernel = keras.ops.convert_to_numpy(layer.kernel).copy()
            flat = kernel.reshape(-1)
            flat[rng.choice(flat.size, zeros, replace=False)] = 0.0
            layer.kernel.assign(kernel)
            drop += 2 * positions * zeros
        self.assertEqual(count_flops(model, sparse=True), dense_count - drop)
        self.assertEqual(count_flops(model), dense_count)

    def test_vgg_sparse_inside_the_nested_block(self):
        model = _vgg_like()
        conv = model.get_layer("block2").get_layer("conv2_2")
        kernel = keras.ops.convert_to_numpy(conv.kernel).copy()
        kernel[0, 0, :4, :] = 0.0  # 64 entries
        conv.kernel.assign(kernel)
        self.assertEqual(
            count_flops(model) - count_flops(model, sparse=True),
            2 * 8 * 8 * 64,
        )

    def test_shared_layer_counts_each_call(self):
        inputs = keras.Input((5, 4))
        dense = keras.layers.Dense(4)
        model = keras.Model(inputs, dense(dense(inputs)))
        self.assertEqual(count_flops(model), 2 * (2 * 5 * 4 * 4))
        self.assertEqual(len(trace_shapes(model)[id(dense)]), 2)

    def test_a_subclassed_model_needs_an_input_shape(self):
        class Net(keras.Model):
            def __init__(self):
                super().__init__()
                self.inner = keras.layers.Dense(3)

            def call(self, x):
                return self.inner(x)

        net = Net()
        net(np.zeros((1, 4), "float32"))
        with self.assertRaisesRegex(ValueError, "`input_shape` is needed"):
            count_flops(net)
        self.assertEqual(count_flops(net, input_shape=(4,)), 2 * 4 * 3)
        # the hooks are gone: the layer's own `call` again
        self.assertNotIn("call", vars(net.inner))


def test_keras_hub_vit_by_hand():
    keras_hub = pytest.importorskip("keras_hub")
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
    )
    vit = keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=5)
    t, d, h, k, m = 17, 16, 2, 8, 32  # 16 patches and the class token
    patches = 2 * 16 * (8 * 8 * 3 * d)
    block = (
        2 * t * 3 * d * h * k  # q, k, v
        + 2 * t * t * h * (k + k)  # scores, weighted values
        + 2 * t * h * k * d  # output projection
        + 2 * 2 * t * d * m  # MLP
    )
    assert count_flops(vit) == patches + 2 * block + 2 * d * 5
