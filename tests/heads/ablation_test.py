import keras
import numpy as np

from keras_snp.heads import ablation
from keras_snp.sites import AblationModel
from keras_snp.sites import find_sites
from tests.helpers import TestCase
from tests.helpers import tiny_cct

K = 5


def data(n=24, batch=8, one_hot=True, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(n, 16, 16, 3)).astype("float32")
    y = np.arange(n) % K
    labels = np.eye(K, dtype="float32")[y] if one_hot else y
    return [
        (x[i : i + batch], labels[i : i + batch]) for i in range(0, n, batch)
    ]


def model_with_weights(seed=1):
    keras.utils.set_random_seed(seed)
    model = tiny_cct(num_classes=K)
    # Large random weights so that silencing a head flips predictions.
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            rng.normal(0, 0.5, w.shape).astype("float32")
            for w in model.get_weights()
        ]
    )
    return model


def reference_logits(model, tap, nodes, images):
    """Silencing nodes of `tap` == zeroing their rows of the projection
    that follows it, on a separate copy of the model."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    proj = copy.get_layer(tap.replace("_mha", "_attn_proj"))
    kernel, bias = proj.get_weights()
    kernel[nodes] = 0.0
    proj.set_weights([kernel, bias])
    return keras.ops.convert_to_numpy(copy(images, training=False))


class HeadMaskTest(TestCase):
    def test_layer(self):
        self.run_layer_test(
            ablation.HeadMask,
            init_kwargs={"units": 4},
            input_shape=(2, 3, 4),
            expected_output_shape=(2, 3, 4),
            expected_num_trainable_weights=0,
            expected_num_non_trainable_weights=1,
            supports_masking=False,
            run_training_check=False,
        )

    def test_bad_units(self):
        with self.assertRaisesRegex(ValueError, "`units` must be >= 1"):
            ablation.HeadMask(0)


class AblationTest(TestCase):
    def test_weights_unchanged_and_predictions_change(self):
        model = model_with_weights(seed=3)  # a seed where argmax flips
        batches = data()
        images = np.concatenate([b[0] for b in batches])
        before = [w.copy() for w in model.get_weights()]
        logits_before = keras.ops.convert_to_numpy(model(images))
        n_vars = len(model.weights)

        sites = find_sites(model)
        clone = AblationModel(model, [s for s in sites if s.kind == "mha"])
        heads = model.get_layer("encoder_2_mha").head_of_node
        nodes = np.flatnonzero(heads == 1)
        clone.silence({"encoder_2_mha": nodes})
        ablated = keras.ops.convert_to_numpy(clone(images))
        self.assertAllClose(
            ablated,
            reference_logits(model, "encoder_2_mha", nodes, images),
            atol=1e-4,
        )
        self.assertGreater(np.abs(ablated - logits_before).max(), 1e-2)
        self.assertTrue((ablated.argmax(-1) != logits_before.argmax(-1)).any())

        base, dropped, totals = ablation.ablation_accuracies(
            model,
            batches,
            {
                "encoder_1_mha": [np.arange(8), np.arange(8, 16)],
                "encoder_2_mha": [np.arange(8), np.arange(8, 16)],
            },
            K,
        )
        after = model.get_weights()
        self.assertEqual(len(model.weights), n_vars)
        for a, b in zip(before, after):
            self.assertTrue(np.array_equal(a, b))
        self.assertAllClose(
            keras.ops.convert_to_numpy(model(images)), logits_before
        )
        labels = np.arange(24) % K
        self.assertAllClose(totals, np.bincount(labels))
        expected_base = [
            np.mean(logits_before.argmax(-1)[labels == c] == c)
            for c in range(K)
        ]
        self.assertAllClose(base, expected_base)
        ref = reference_logits(model, "encoder_2_mha", nodes, images)
        expected = [np.mean(ref.argmax(-1)[labels == c] == c) for c in range(K)]
        self.assertAllClose(dropped["encoder_2_mha"][1], expected)
        self.assertEqual(dropped["encoder_1_mha"].shape, (2, K))

    def test_unknown_tap(self):
        model = tiny_cct(num_classes=K)
        with self.assertRaisesRegex(ValueError, "Unknown tap layer"):
            ablation.ablation_accuracies(model, [], {"encoder_9_mha": []}, K)


class HeadOnlyTest(TestCase):
    def test_matches_slow_node_loop(self):
        from keras_snp.snp import TapResult

        model = model_with_weights(seed=2)
        batches = data(one_hot=False)
        layer = model.get_layer("encoder_1_mha")
        tokens, n = layer.output.shape[1], layer.output.shape[2]
        rng = np.random.default_rng(0)
        W = rng.normal(size=(K, tokens, n)).astype("float32")
        scale = rng.uniform(0.5, 2.0, size=n).astype("float32")
        tap = TapResult(
            "encoder_1_mha",
            "mha",
            1,
            np.zeros((n, K, K), "float32"),
            layer.head_of_node,
            tokens,
            W=W,
            scale=scale,
        )
        result, totals = ablation.head_only_accuracies(
            model, iter(batches), [tap], K
        )

        tap_model = keras.Model(model.inputs[0], layer.output)
        images = np.concatenate([b[0] for b in batches])
        labels = np.concatenate([b[1] for b in batches])
        A = keras.ops.convert_to_numpy(tap_model(images))
        phi = np.zeros((len(images), n, K))
        for d in range(n):  # silence every node but d
            for c in range(K):
                phi[:, d, c] = (W[c, :, d] * A[:, :, d]).sum(-1) * scale[d]
        for h in range(2):
            pred = phi[:, layer.head_of_node == h].sum(1).argmax(-1)
            expected = [np.mean(pred[labels == c] == c) for c in range(K)]
            self.assertAllClose(result["encoder_1_mha"][h], expected)
        self.assertAllClose(totals, np.bincount(labels, minlength=K))
