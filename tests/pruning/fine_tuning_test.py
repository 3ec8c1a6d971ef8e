"""The masked fine-tune: training recipe, identical settings, masks hold."""

import keras
import numpy as np
import pytest

from keras_snp import data as data_lib
from keras_snp.pruning import ANDCPrune
from keras_snp.pruning import prune
from keras_snp.pruning import strip
from keras_snp.pruning.fine_tuning import FineTune
from keras_snp.pruning.fine_tuning import default_fine_tune_epochs
from keras_snp.pruning.fine_tuning import fine_tune
from tests.helpers import TestCase
from tests.helpers import run_on_jax
from tests.helpers import tiny_cct

K = 5

# Masks some connections of a tiny CCT, fine-tunes 2 epochs with the
# official recipe and prints how many pruned entries are not exactly 0.
SCRIPT = """
import json
import numpy as np
import keras
from keras_snp import data as data_lib
from keras_snp.pruning import ANDCPrune, prune, strip
from keras_snp.pruning.fine_tuning import FineTune, fine_tune
from tests.helpers import tiny_cct
keras.utils.set_random_seed(0)
model = tiny_cct(num_classes=5)
rng = np.random.default_rng(0)
masks = {n: rng.random(tuple(model.get_layer(n).kernel.shape)) < 0.5
         for n in ("classifier", "encoder_1_ff_hidden",
                   "encoder_2_attn_proj")}
pruned = prune(model, masks=masks)
before = {n: np.array(pruned.get_layer(n).layer.kernel) for n in masks}
splits = data_lib.load("synthetic", 16, 8, recipe="official",
                       num_classes=5, examples_per_class=4,
                       drop_remainder=True)
fine_tune(pruned, splits.train, FineTune(epochs=2))
plain = strip(pruned)
out = {"backend": keras.backend.backend(), "nonzero": 0, "moved": 0}
for n, m in masks.items():
    inner = np.array(pruned.get_layer(n).layer.kernel)
    out["nonzero"] += int(np.count_nonzero(inner[~m]))
    out["nonzero"] += int(np.count_nonzero(
        np.array(plain.get_layer(n).kernel)[~m]))
    out["moved"] += int((inner[m] != before[n][m]).sum())
print("RESULT", json.dumps(out))
"""


def _splits():
    return data_lib.load(
        "synthetic",
        16,
        8,
        recipe="official",
        num_classes=K,
        examples_per_class=4,
        drop_remainder=True,  # as training: the augmentation needs full
    )  # batches


class FineTuneTest(TestCase):
    def test_default_length(self):
        self.assertEqual(
            [default_fine_tune_epochs(e) for e in (1, 4, 10, 14, 16, 300)],
            [1, 1, 1, 1, 2, 30],
        )

    def test_masks_hold_on_tensorflow(self):
        keras.utils.set_random_seed(0)
        model = tiny_cct(num_classes=K)
        rng = np.random.default_rng(1)
        masks = {
            n: rng.random(tuple(model.get_layer(n).kernel.shape)) < 0.5
            for n in ("classifier", "encoder_2_ff_out")
        }
        pruned = prune(model, masks=masks)
        before = {n: np.array(pruned.get_layer(n).layer.kernel) for n in masks}
        fine_tune(pruned, _splits().train, FineTune(epochs=2))
        plain = strip(pruned)
        for name, mask in masks.items():
            inner = np.array(pruned.get_layer(name).layer.kernel)
            self.assertEqual(np.count_nonzero(inner[~mask]), 0)
            self.assertEqual(
                np.count_nonzero(np.array(plain.get_layer(name).kernel)[~mask]),
                0,
            )
            self.assertTrue((inner[mask] != before[name][mask]).any())

    @pytest.mark.slow
    def test_masks_hold_on_jax(self):
        out = run_on_jax(self, SCRIPT)
        self.assertEqual(out["backend"], "jax")
        self.assertEqual(out["nonzero"], 0)
        self.assertGreater(out["moved"], 0)

    def test_recipe_schedule_and_identical_records(self):
        splits = _splits()
        settings = FineTune(epochs=1, seed=3)
        records = []
        for keep in (1.0, 0.5, 0.0):
            keras.utils.set_random_seed(0)
            model = tiny_cct(num_classes=K)
            if keep < 1.0:
                rng = np.random.default_rng(0)
                kernel = model.get_layer("classifier").kernel
                model = prune(
                    model,
                    masks={
                        "classifier": rng.random(tuple(kernel.shape)) < keep
                    },
                )
                self.assertIsInstance(model.get_layer("classifier"), ANDCPrune)
            records.append(fine_tune(model, splits.train, settings))
        self.assertEqual(records[0], records[1])
        self.assertEqual(records[0], records[2])
        record = records[0]
        self.assertEqual(record["recipe"]["label_smoothing"], 0.1)
        self.assertTrue(record["augmented_on_device"])
        schedule = record["optimizer"]["config"]["learning_rate"]["config"]
        self.assertGreater(schedule["warmup_steps"], 0)
        self.assertEqual(
            schedule["warmup_target"], record["recipe"]["learning_rate"]
        )
        self.assertEqual(record["optimizer"]["class_name"], "AdamW")

    def test_errors(self):
        with self.assertRaisesRegex(ValueError, "`epochs` must be >= 0"):
            FineTune(epochs=-1)
        with self.assertRaisesRegex(ValueError, "`steps_per_epoch`"):
            FineTune(steps_per_epoch=0)
