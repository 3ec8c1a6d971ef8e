import glob
import json
import os
import subprocess
import sys

import keras
import numpy as np

from keras_snp.run.prune_stage import ROWS
from keras_snp.run.prune_stage import accuracy
from keras_snp.run.prune_stage import run_pruning
from tests.pruning.planted import planted_snp_result
from tests.helpers import TestCase
from tests.helpers import tiny_cct

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def _data(rng, n, batch, one_hot):
    images = rng.uniform(0, 255, (n, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 5, n)
    if one_hot:
        labels = np.eye(5, dtype="float32")[labels]
    return [(images[i:i + batch], labels[i:i + batch])
            for i in range(0, n, batch)]


class StageTest(TestCase):
    def test_accuracy_one_hot_and_int(self):
        model = tiny_cct()
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 255, (6, 16, 16, 3)).astype("float32")
        predicted = model.predict_on_batch(images).argmax(-1)
        labels = predicted.copy()
        labels[:2] = (labels[:2] + 1) % 5
        self.assertAllClose(accuracy(model, [(images, labels)]), 4 / 6)
        one_hot = np.eye(5)[labels]
        self.assertAllClose(accuracy(model, [(images[:3], one_hot[:3]),
                                             (images[3:], one_hot[3:])]),
                            4 / 6)

    def test_run_pruning_writes_everything(self):
        rng = np.random.default_rng(0)
        model = tiny_cct()
        result = planted_snp_result(model, labels_per_node=2,
                                    empty_fraction=0.4, seed=0)
        train = _data(rng, 24, 8, one_hot=False)
        test = _data(rng, 16, 8, one_hot=True)
        tmp = self.get_temp_dir()
        out_dir = os.path.join(tmp, "run", "pruned")
        log_dir = os.path.join(tmp, "run", "logs", "pruning")
        exported = []

        def export_fn(small, directory):
            exported.append((small.count_params(), directory))

        summary = run_pruning(model, result, train, test, out_dir,
                              fine_tune_epochs=1, log_dir=log_dir,
                              export_fn=export_fn, run_eagerly=True)
        with open(os.path.join(out_dir, "pruning.json")) as f:
            written = json.load(f)
        names = [row["name"] for row in written["accuracy_table"]]
        self.assertEqual(names, list(ROWS))
        self.assertEqual(len(names), 5)
        for row in written["accuracy_table"]:
            self.assertTrue(0.0 <= row["accuracy"] <= 1.0)
        self.assertEqual(written["accuracy"], summary["accuracy"])
        self.assertAllClose(written["accuracy"]["unpruned"],
                            accuracy(model, test))
        layers = written["layers"]
        self.assertIn("classifier", layers)
        self.assertIn("encoder_2_ff_hidden", layers)
        for name, entry in layers.items():
            if "kept" in entry:
                self.assertEqual(entry["random_kept"], entry["kept"])
                self.assertEqual(entry["magnitude_kept"], entry["kept"])
                self.assertLess(entry["kept"], entry["total"])
        params = written["params"]
        self.assertLess(params["after"], params["before"])
        self.assertLess(written["flops"]["after"], written["flops"]["before"])
        self.assertLess(written["shrink"]["max_abs_difference"], 1e-5)
        self.assertEqual(exported, [(params["after"], out_dir)])
        self.assertTrue(glob.glob(os.path.join(log_dir, "events.out.*")))

        # model.keras loads in a fresh process, safe mode, after the import
        images, _ = test[0]
        np.save(os.path.join(tmp, "x.npy"), images)
        code = (
            "import sys, numpy as np, keras, keras_snp\n"
            "m = keras.models.load_model(sys.argv[1], safe_mode=True)\n"
            "np.save(sys.argv[3], m.predict_on_batch(np.load(sys.argv[2])))\n"
            "print(m.count_params())\n")
        out_npy = os.path.join(tmp, "y.npy")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
        run = subprocess.run(
            [sys.executable, "-c", code, os.path.join(out_dir, "model.keras"),
             os.path.join(tmp, "x.npy"), out_npy],
            env=env, capture_output=True, text=True, timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        self.assertEqual(int(run.stdout.split()[-1]), params["after"])
        small = keras.models.load_model(os.path.join(out_dir, "model.keras"))
        self.assertAllClose(np.load(out_npy), small.predict_on_batch(images),
                            atol=1e-6)
