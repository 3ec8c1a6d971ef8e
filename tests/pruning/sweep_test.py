"""Sweeps, sensitivity, the structured variant and the deflated export."""

import os

import keras
import numpy as np

from keras_snp import data as data_lib
from keras_snp.pruning import FineTune
from keras_snp.pruning import prune
from keras_snp.pruning import sensitivity
from keras_snp.pruning import shrink
from keras_snp.pruning import structured_masks
from keras_snp.pruning.scoring import accuracy
from keras_snp.pruning.sweep import sweep
from keras_snp.pruning.sweep import sweep_figure
from keras_snp.run import export as export_lib
from tests.helpers import TestCase
from tests.helpers import tiny_cct
from tests.pruning.planted import planted_snp_result

K = 5


def _graded(result):
    """Diagonals 0.15, 0.35, ... so a higher theta keeps fewer labels."""
    rng = np.random.default_rng(0)
    for tap in result.taps.values():
        n = tap.V.shape[0]
        tap.V[:] = 0.0
        levels = rng.choice([0.15, 0.35, 0.55, 1.0], size=(n, K))
        tap.V[:, np.arange(K), np.arange(K)] = levels
    return result


class SweepTest(TestCase):
    def setUp(self):
        keras.utils.set_random_seed(0)
        self.model = tiny_cct(num_classes=K)
        self.result = _graded(planted_snp_result(self.model, seed=0))
        self.splits = data_lib.load(
            "synthetic",
            16,
            8,
            recipe="official",
            num_classes=K,
            examples_per_class=4,
            backend_format="numpy",
        )

    def test_sweep_rows_and_figure(self):
        hits = {}
        rows = sweep(
            self.model,
            self.result,
            self.splits.train,
            self.splits.test,
            FineTune(epochs=0),
            scopes=("readout",),
            thetas=(0.2, 0.5),
            hits=hits,
        )
        n_test = sum(len(labels) for _, labels in self.splits.test)
        for row in rows:
            key = f"readout|{row['theta']}|{row['method']}"
            self.assertEqual(hits[key].shape, (n_test,))
            self.assertEqual(float(hits[key].mean()), row["accuracy"])
        self.assertEqual(
            [(r["theta"], r["method"]) for r in rows],
            [
                (0.2, "andc"),
                (0.2, "random"),
                (0.2, "magnitude"),
                (0.5, "andc"),
                (0.5, "random"),
                (0.5, "magnitude"),
            ],
        )
        self.assertLess(rows[0]["dilution"], rows[3]["dilution"])
        self.assertEqual(rows[0]["dilution"], rows[1]["dilution"])
        path = sweep_figure(
            rows, os.path.join(self.get_temp_dir(), "s.png"), {"unpruned": 0.5}
        )
        self.assertGreater(os.path.getsize(path), 1000)
        with self.assertRaisesRegex(ValueError, "`thetas` must lie"):
            sweep(self.model, self.result, [], [], FineTune(), thetas=(1.5,))

    def test_sensitivity_one_layer_at_a_time(self):
        rows = sensitivity(
            self.model,
            self.result,
            self.splits.test,
            theta=0.3,
            scope="readout+ff",
        )
        self.assertEqual([r["layer"] for r in rows][:1], ["classifier"])
        self.assertEqual(len(rows), 1 + 2 * 2)
        base = accuracy(self.model, self.splits.test)
        for row in rows:
            self.assertAllClose(row["drop"], base - row["accuracy"])
            self.assertTrue(0.0 < row["dilution"] < 1.0)


class StructuredTest(TestCase):
    def test_shrunk_equals_masked(self):
        keras.utils.set_random_seed(1)
        model = tiny_cct(num_classes=K)
        result = _graded(planted_snp_result(model, seed=1))
        masks = structured_masks(model, result, 0.5)
        self.assertEqual(
            sorted(masks),
            [
                "encoder_1_attn_proj",
                "encoder_1_ff_out",
                "encoder_2_attn_proj",
                "encoder_2_ff_out",
            ],
        )
        # half the FF units (32 -> 16) and one of the two heads per encoder
        self.assertEqual((~masks["encoder_1_ff_out"].any(axis=1)).sum(), 16)
        self.assertEqual((~masks["encoder_1_attn_proj"].any(axis=1)).sum(), 8)
        masked = prune(model, masks=masks)
        small, removed = shrink(masked, return_report=True)
        self.assertEqual(removed["encoder_1_heads"], 1)
        self.assertEqual(removed["encoder_2_ff_hidden"], 16)
        self.assertLess(small.count_params(), model.count_params())
        images = (
            np.random.default_rng(0)
            .uniform(0, 255, (4, 16, 16, 3))
            .astype("float32")
        )
        self.assertAllClose(
            small.predict_on_batch(images),
            masked.predict_on_batch(images),
            atol=1e-5,
        )

    def test_weakest_first(self):
        model = tiny_cct(num_classes=K)
        result = planted_snp_result(model, seed=2)
        tap = result.taps["encoder_1_ff_hidden"]
        tap.V[:] = 0.0
        tap.V[:, 0, 0] = 1.0  # every unit: one label ...
        tap.V[:4, 1, 1] = 1.0  # ... units 0-3 two: they are kept
        masks = structured_masks(model, result, 0.75, parts=("ff",))
        kept = np.flatnonzero(masks["encoder_1_ff_out"].any(axis=1))
        self.assertEqual(len(kept), 8)
        self.assertTrue(set(range(4)) <= set(kept.tolist()))
        with self.assertRaisesRegex(ValueError, "`fraction` must be"):
            structured_masks(model, result, 1.0)


class DeflatedExportTest(TestCase):
    def test_loads_with_plain_keras_and_is_smaller(self):
        keras.utils.set_random_seed(0)
        model = tiny_cct(num_classes=K)
        rng = np.random.default_rng(0)
        masks = {
            n: rng.random(tuple(model.get_layer(n).kernel.shape)) < 0.2
            for n in (
                "encoder_1_ff_hidden",
                "encoder_1_ff_out",
                "encoder_2_ff_hidden",
                "encoder_2_ff_out",
            )
        }
        small = shrink(prune(model, masks=masks))
        tmp = self.get_temp_dir()
        plain_path = os.path.join(tmp, "plain.keras")
        packed_path = os.path.join(tmp, "packed.keras")
        export_lib.save_keras(small, plain_path)
        export_lib.save_keras(small, packed_path, compress=True)
        self.assertLess(
            os.path.getsize(packed_path), 0.8 * os.path.getsize(plain_path)
        )
        images = rng.uniform(0, 255, (3, 16, 16, 3)).astype("float32")
        plain = keras.models.load_model(plain_path)
        packed = keras.models.load_model(packed_path)
        self.assertAllClose(
            packed.predict_on_batch(images),
            plain.predict_on_batch(images),
            atol=0,
        )
        sizes = export_lib.model_sizes(tmp)
        self.assertEqual(sizes, {})  # no model.keras in tmp
        os.replace(packed_path, os.path.join(tmp, "model.keras"))
        sizes = export_lib.model_sizes(tmp)
        self.assertEqual(
            sizes["keras_bytes"],
            os.path.getsize(os.path.join(tmp, "model.keras")),
        )
