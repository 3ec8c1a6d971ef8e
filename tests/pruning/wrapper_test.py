import os
import subprocess
import sys
import textwrap

import keras
import numpy as np

from keras_snp.pruning import ANDCPrune
from keras_snp.pruning import strip
from tests.helpers import TestCase


class ANDCPruneTest(TestCase):
    def test_layer_basics(self):
        self.run_layer_test(
            ANDCPrune,
            init_kwargs={"layer": keras.layers.Dense(3)},
            input_shape=(2, 4),
            expected_output_shape=(2, 3),
            expected_num_trainable_weights=2,
            expected_num_non_trainable_weights=1,
            supports_masking=False,
        )

    def test_masked_output_by_hand(self):
        layer = ANDCPrune(keras.layers.Dense(2, activation="relu"))
        layer.build((None, 3))
        layer.layer.set_weights(
            [
                np.array([[1.0, 2.0], [3.0, -4.0], [5.0, 6.0]]),
                np.array([0.5, -0.5]),
            ]
        )
        layer.set_mask(np.array([[1, 0], [0, 1], [1, 1]]))
        out = layer(np.array([[1.0, 1.0, 1.0]]))
        # unit 0: 1 + 5 + 0.5; unit 1: relu(-4 + 6 - 0.5)
        self.assertAllClose(out, [[6.5, 1.5]])
        self.assertAllClose(layer.sparsity, 2 / 6)
        self.assertEqual(layer.kept, 4)
        self.assertEqual(layer.name, layer.layer.name)

    def test_einsum_dense(self):
        inner = keras.layers.EinsumDense(
            "abc,cd->abd", (None, 2), bias_axes="d"
        )
        layer = ANDCPrune(inner)
        x = np.random.default_rng(0).normal(size=(2, 3, 4))
        layer.build(x.shape)
        mask = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
        layer.set_mask(mask)
        kernel, bias = inner.get_weights()
        expected = np.einsum("abc,cd->abd", x, kernel * mask) + bias
        self.assertAllClose(layer(x), expected, atol=1e-5)

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "`layer` must be"):
            ANDCPrune(keras.layers.Conv2D(2, 3))
        layer = ANDCPrune(keras.layers.Dense(2))
        layer.build((None, 3))
        with self.assertRaisesRegex(ValueError, r"`mask` must have .*\(3, 2\)"):
            layer.set_mask(np.ones((2, 3)))

    def test_mask_holds_through_training(self):
        rng = np.random.default_rng(1)
        inputs = keras.Input((6,))
        hidden = ANDCPrune(
            keras.layers.Dense(5, activation="gelu", name="hidden")
        )
        out = ANDCPrune(keras.layers.Dense(3, name="out"))
        model = keras.Model(inputs, out(hidden(inputs)))
        masks = [rng.random((6, 5)) > 0.5, rng.random((5, 3)) > 0.5]
        hidden.set_mask(masks[0])
        out.set_mask(masks[1])
        before = [np.array(hidden.layer.kernel), np.array(out.layer.kernel)]
        x = rng.normal(size=(32, 6)).astype("float32")
        y = rng.normal(size=(32, 3)).astype("float32")
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        model.fit(x, y, epochs=3, batch_size=8, verbose=0)
        after = [np.array(hidden.layer.kernel), np.array(out.layer.kernel)]
        for mask, old, new in zip(masks, before, after):
            # pruned entries get no gradient; kept ones moved
            self.assertAllClose(new[~mask], old[~mask])
            self.assertGreater(np.abs(new[mask] - old[mask]).max(), 1e-4)
        # the forward pass equals the masked kernels by hand ...
        w1, b1 = hidden.layer.get_weights()
        w2, b2 = out.layer.get_weights()
        h = np.asarray(keras.activations.gelu(x @ (w1 * masks[0]) + b1))
        self.assertAllClose(
            model.predict_on_batch(x), h @ (w2 * masks[1]) + b2, atol=1e-5
        )
        # ... and the stripped model
        plain = strip(model)
        self.assertFalse(
            any(isinstance(layer, ANDCPrune) for layer in plain.layers)
        )
        self.assertAllClose(
            plain.predict_on_batch(x), model.predict_on_batch(x), atol=1e-6
        )
        self.assertAllClose(plain.get_layer("out").kernel, w2 * masks[1])

    def test_mask_holds_under_mirrored_strategy(self):
        if keras.backend.backend() != "tensorflow":
            self.skipTest("MirroredStrategy needs TensorFlow")
        code = textwrap.dedent("""
            import numpy as np, tensorflow as tf, keras
            cpu = tf.config.list_physical_devices("CPU")[0]
            tf.config.set_logical_device_configuration(
                cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
            from keras_snp.pruning import ANDCPrune
            strategy = tf.distribute.MirroredStrategy(["CPU:0", "CPU:1"])
            assert strategy.num_replicas_in_sync == 2
            rng = np.random.default_rng(0)
            mask = rng.random((4, 3)) > 0.5
            with strategy.scope():
                layer = ANDCPrune(keras.layers.Dense(3, use_bias=False))
                model = keras.Sequential([keras.Input((4,)), layer])
                layer.set_mask(mask)
                model.compile(optimizer=keras.optimizers.Adam(0.1),
                              loss="mse")
            before = np.array(layer.layer.kernel)
            x = rng.normal(size=(64, 4)).astype("float32")
            model.fit(x, x[:, :3], epochs=2, batch_size=16, verbose=0)
            after = np.array(layer.layer.kernel)
            assert np.allclose(after[~mask], before[~mask]), "moved"
            assert np.abs(after[mask] - before[mask]).max() > 1e-3
            out = np.asarray(model(x))
            assert np.allclose(out, x @ (after * mask), atol=1e-5)
            print("MIRRORED_OK")
        """)
        root = os.path.dirname(
            os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        )
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=root)
        result = subprocess.run(
            [sys.executable, "-c", code],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.assertIn("MIRRORED_OK", result.stdout, result.stderr[-2000:])
