import os
import tempfile

import keras
import numpy as np

from keras_snp.cli import reproduce as runner
from keras_snp.reproduce.cnn import block_names
from keras_snp.reproduce.cnn import build_cnn
from keras_snp.snp import compute_snp
from keras_snp.utils import read_json
from tests.helpers import TestCase


def batches(n, K, size, seed):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % K
    images = rng.random((n, size, size, 3)) * 60
    images[..., 0] += labels[:, None, None] * 60  # learnable by colour
    return [
        (images[i : i + 8].astype("float32"), labels[i : i + 8])
        for i in range(0, n, 8)
    ]


class BuildCNNTest(TestCase):
    def test_reference_size_and_taps(self):
        model = build_cnn(num_classes=100, image_size=32)
        # 4 x Conv3x3 (no bias) + BN, then Dense(128 -> 100): the 254k
        # of METHOD.md section 5.
        convs = 3 * 9 * 32 + 32 * 9 * 64 + 64 * 9 * 128 + 128 * 9 * 128
        bns = 4 * (32 + 64 + 128 + 128)
        self.assertEqual(model.count_params(), convs + bns + 128 * 100 + 100)
        self.assertEqual(
            block_names(model), ["block_1", "block_2", "block_3", "block_4"]
        )
        shapes = [
            tuple(model.get_layer(n).output.shape[1:])
            for n in block_names(model)
        ]
        self.assertEqual(
            shapes, [(32, 32, 32), (16, 16, 64), (8, 8, 128), (4, 4, 128)]
        )
        self.assertEqual(
            model.get_layer("classifier").dtype_policy.name, "float32"
        )

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "num_classes"):
            build_cnn(num_classes=1)
        with self.assertRaisesRegex(ValueError, "image_size"):
            build_cnn(num_classes=3, image_size=4)
        with self.assertRaisesRegex(ValueError, "widths"):
            build_cnn(num_classes=3, widths=())

    def test_saving_round_trip(self):
        model = build_cnn(3, image_size=8, widths=(4, 8))
        x = np.random.default_rng(0).random((2, 8, 8, 3)) * 255
        with tempfile.TemporaryDirectory() as tmp:
            path = os.path.join(tmp, "cnn.keras")
            model.save(path)
            loaded = keras.models.load_model(path)
        self.assertAllClose(
            model.predict_on_batch(x), loaded.predict_on_batch(x), atol=1e-5
        )

    def test_snp_on_blocks(self):
        K = 3
        model = build_cnn(K, image_size=8, widths=(4, 8))
        train, test = batches(48, K, 8, 0), batches(24, K, 8, 1)
        result = compute_snp(
            model,
            train,
            test,
            taps=block_names(model),
            epochs=1,
            batch_size=None,
            verbose=0,
            run_eagerly=True,
        )
        self.assertEqual(list(result.taps), ["block_1", "block_2"])
        self.assertEqual(result.taps["block_1"].V.shape, (4, K, K))
        self.assertEqual(result.taps["block_1"].tokens, 64)
        self.assertEqual(result.taps["block_2"].V.shape, (8, K, K))
        self.assertEqual(result.taps["block_2"].tokens, 16)
        self.assertEqual(result.taps["block_2"].kind, "other")


class ReproduceCNNTest(TestCase):
    def test_end_to_end_cnn_run(self):
        with tempfile.TemporaryDirectory() as tmp:
            argv = [
                "--dataset",
                "synthetic",
                "--model",
                "cnn",
                "--image-size",
                "8",
                "--num-classes",
                "3",
                "--examples-per-class",
                "6",
                "--epochs",
                "1",
                "--snp-epochs",
                "1",
                "--bootstrap",
                "50",
                "--output-dir",
                tmp,
                "--run-name",
                "c",
                "--analyse-anyway",  # one epoch of 18 images
                "--quiet",
            ]
            self.assertEqual(runner.reproduce_main(argv), 0)
            run = os.path.join(tmp, "c")
            state = read_json(os.path.join(run, "run.json"))
            self.assertEqual(sorted(state["stages"]), ["snp", "train"])
            self.assertEqual(
                state["reproduce"]["command"], runner.command_line(argv)
            )
            with open(os.path.join(run, "REPORT.md")) as f:
                text = f.read()
            self.assertIn("| block_4 | block | 4 |", text)
            self.assertEqual(text.count("**Verdict:"), 4)
            self.assertIn("not measured (stage not run", text)
            # --resume with every stage done only rewrites the report
            os.remove(os.path.join(run, "REPORT.md"))
            self.assertEqual(runner.reproduce_main(argv + ["--resume"]), 0)
            self.assertTrue(os.path.isfile(os.path.join(run, "REPORT.md")))
            self.assertEqual(
                read_json(os.path.join(run, "run.json"))["stages"]["train"][
                    "finished_at"
                ],
                state["stages"]["train"]["finished_at"],
            )
