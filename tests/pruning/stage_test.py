import glob
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from keras_snp import data as data_lib
from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.fine_tuning import FineTune
from keras_snp.pruning.result import PruningResult
from keras_snp.pruning.stage import evaluation_steps
from keras_snp.pruning.stage import prune_and_evaluate
from keras_snp.run.prune_stage import ROWS
from keras_snp.run.prune_stage import PruneSettings
from keras_snp.run.prune_stage import accuracy
from keras_snp.run.prune_stage import choose_masks
from keras_snp.run.prune_stage import run_pruning
from keras_snp.utils import read_json
from tests.helpers import TestCase
from tests.helpers import tiny_cct
from tests.pruning.planted import planted_snp_result

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
K = 5


def _splits(recipe="official", batch=8):
    # Training batches are full, as the pipeline makes them (the official
    # recipe's augmentation needs a static batch).
    return data_lib.load(
        "synthetic",
        16,
        batch,
        recipe=recipe,
        num_classes=K,
        examples_per_class=6,
        drop_remainder=recipe == "official",
    )


class _Relabelled:
    """Batches of `data` with labels permuted (a different test split)."""

    def __init__(self, data, seed):
        self.data, self.seed = data, seed

    def __iter__(self):
        rng = np.random.default_rng(self.seed)
        for images, labels in self.data:
            yield images, np.asarray(labels)[rng.permutation(len(labels))]


class _Recorder:
    """A `steps` reporter that keeps what it was told."""

    def __init__(self):
        self.started, self.done_count = [], 0

    def start(self, what):
        self.started.append(what)

    def done(self, message="", *args):
        self.done_count += 1


class StageTest(TestCase):
    def test_prune_and_evaluate_returns_a_typed_result(self):
        keras.utils.set_random_seed(0)
        model = tiny_cct(num_classes=K)
        snp = planted_snp_result(
            model, labels_per_node=2, empty_fraction=0.4, seed=0
        )
        settings = PruneSettings(fine_tune=FineTune(epochs=0))
        masks = connection_masks(model, snp, settings.theta, settings.scope)
        splits = _splits(recipe="none")
        test = list(splits.test)
        steps = _Recorder()
        result = prune_and_evaluate(
            model, masks, splits.train, test, settings, steps=steps
        )
        self.assertIsInstance(result, PruningResult)
        self.assertEqual(len(steps.started), evaluation_steps(settings))
        self.assertEqual(steps.done_count, evaluation_steps(settings))
        summary = result.to_dict()
        self.assertEqual(
            list(summary),
            [
                "scope",
                "theta",
                "masks_from",
                "scored_on",
                "fine_tune",
                "random_control",
                "accuracy",
                "accuracy_table",
                "kept_connections",
                "prunable_connections",
                "dilution",
                "dilution_by_scope",
                "layers",
                "params",
                "flops",
                "shrink",
                "kept_nodes",
            ],
        )
        for name, kept_nodes in summary["kept_nodes"].items():
            self.assertEqual(
                len(kept_nodes),
                sum(result.pruned.get_layer(name).value_dims)
                if name.endswith("_mha")
                else result.pruned.get_layer(name).units,
            )
        self.assertEqual(
            [r["name"] for r in summary["accuracy_table"]], [*ROWS]
        )
        for name, hits in result.hits.items():
            self.assertEqual(summary["accuracy"][name], float(hits.mean()))
        kept = sum(int(m.sum()) for m in masks.values())
        self.assertEqual(summary["kept_connections"], kept)
        self.assertEqual(
            summary["params"]["after"], result.pruned.count_params()
        )
        self.assertIs(result.evaluation.masks["andc"], masks)
        self.assertIsNone(result.structured_pruned)

    def test_accuracy_one_hot_and_int(self):
        model = tiny_cct()
        rng = np.random.default_rng(0)
        images = rng.uniform(0, 255, (6, 16, 16, 3)).astype("float32")
        predicted = model.predict_on_batch(images).argmax(-1)
        labels = predicted.copy()
        labels[:2] = (labels[:2] + 1) % 5
        self.assertAllClose(accuracy(model, [(images, labels)]), 4 / 6)
        one_hot = np.eye(5)[labels]
        self.assertAllClose(
            accuracy(
                model, [(images[:3], one_hot[:3]), (images[3:], one_hot[3:])]
            ),
            4 / 6,
        )

    @pytest.mark.slow
    def test_run_pruning_writes_everything(self):
        keras.utils.set_random_seed(0)
        model = tiny_cct(num_classes=K)
        result = planted_snp_result(
            model, labels_per_node=2, empty_fraction=0.4, seed=0
        )
        splits = _splits()
        tmp = self.get_temp_dir()
        out_dir = os.path.join(tmp, "run", "pruned")
        log_dir = os.path.join(tmp, "run", "logs", "pruning")
        settings = PruneSettings(
            fine_tune=FineTune(epochs=1), structured_fraction=0.5
        )
        summary = run_pruning(
            model,
            splits.train,
            splits.test,
            out_dir,
            settings,
            snp_result=result,
            log_dir=log_dir,
        )
        written = read_json(os.path.join(out_dir, "pruning.json"))
        names = [row["name"] for row in written["accuracy_table"]]
        self.assertEqual(names, [*ROWS, "structured_fine_tuned"])
        self.assertEqual(written["accuracy"], summary["accuracy"])
        # The unpruned row, recomputed here from raw predictions.
        hits = []
        for images, labels in data_lib.as_numpy(splits.test):
            logits = keras.ops.convert_to_numpy(model.predict_on_batch(images))
            hits.append(logits.argmax(-1) == np.asarray(labels).argmax(-1))
        self.assertAllClose(
            written["accuracy"]["unpruned"], np.concatenate(hits).mean()
        )
        # Every row is the mean of its per-image record (for the CIs).
        with np.load(os.path.join(out_dir, "predictions.npz")) as stored:
            for name, value in written["accuracy"].items():
                self.assertAllClose(stored[name].mean(), value)
        # one fine-tune for every fine-tuned row
        tune = written["fine_tune"]
        self.assertTrue(tune["identical_for_all_rows"])
        self.assertEqual(
            tune["rows"],
            sorted(
                [
                    "andc_fine_tuned",
                    "magnitude_fine_tuned",
                    "random_fine_tuned",
                    "structured_fine_tuned",
                    "unpruned_fine_tuned",
                ]
            ),
        )
        self.assertEqual(
            sorted(written["dilution_by_scope"]),
            ["all", "attn_proj", "ff", "readout"],
        )
        layers = read_json(os.path.join(out_dir, "pruning_detail.json"))[
            "layers"
        ]
        self.assertNotIn("layers", written)  # the head stays short
        self.assertIn("encoder_1_ff_hidden", layers)
        for entry in layers.values():
            if "kept" in entry:
                self.assertEqual(entry["random_kept"], entry["kept"])
                self.assertEqual(entry["magnitude_kept"], entry["kept"])
        params = written["params"]
        self.assertLess(params["after"], params["before"])
        self.assertLess(written["shrink"]["max_abs_difference"], 1e-5)
        structured = written["structured"]
        self.assertLess(structured["max_abs_difference"], 1e-5)
        self.assertEqual(structured["removed"]["encoder_1_heads"], 1)
        self.assertEqual(structured["removed"]["encoder_1_ff_hidden"], 16)
        sizes = written["sizes"]
        self.assertLess(
            sizes["pruned"]["keras_bytes"], sizes["unpruned"]["keras_bytes"]
        )
        self.assertTrue(glob.glob(os.path.join(log_dir, "events.out.*")))
        hits = np.load(os.path.join(out_dir, "predictions.npz"))
        self.assertEqual(
            sorted(hits),
            sorted(
                [
                    "unpruned",
                    "andc_masked",
                    "unpruned_fine_tuned",
                    "andc_fine_tuned",
                    "random_fine_tuned",
                    "magnitude_fine_tuned",
                    "structured_fine_tuned",
                ]
            ),
        )

        # the deflated model.keras loads in a fresh process, safe mode
        images = next(iter(splits.test))[0]
        np.save(os.path.join(tmp, "x.npy"), images)
        code = (
            "import sys, numpy as np, keras, keras_snp\n"
            "m = keras.models.load_model(sys.argv[1], safe_mode=True)\n"
            "np.save(sys.argv[3], m.predict_on_batch(np.load(sys.argv[2])))\n"
            "print(m.count_params())\n"
        )
        out_npy = os.path.join(tmp, "y.npy")
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", PYTHONPATH=ROOT)
        run = subprocess.run(
            [
                sys.executable,
                "-c",
                code,
                os.path.join(out_dir, "model.keras"),
                os.path.join(tmp, "x.npy"),
                out_npy,
            ],
            check=False,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        self.assertEqual(run.returncode, 0, run.stderr[-2000:])
        self.assertEqual(int(run.stdout.split()[-1]), params["after"])
        small = keras.models.load_model(os.path.join(out_dir, "model.keras"))
        self.assertAllClose(
            np.load(out_npy), small.predict_on_batch(images), atol=1e-6
        )

    def test_masks_come_from_validation_never_test(self):
        keras.utils.set_random_seed(0)
        model = tiny_cct(num_classes=K)
        snp = _splits(recipe="none", batch=10)
        settings = PruneSettings(
            scope="readout",
            readout={"max_passes": 50},
            fine_tune=FineTune(epochs=0),
        )
        result, masks = choose_masks(model, snp.train, snp.validation, settings)
        self.assertEqual(list(result.taps), ["sequence_pool"])
        self.assertEqual(list(masks), ["classifier"])
        tmp = self.get_temp_dir()
        kept = []
        for seed in (0, 1):
            # fresh splits: the same training order both times
            keras.utils.set_random_seed(0)
            snp = _splits(recipe="none", batch=10)
            summary = run_pruning(
                model,
                snp.train,
                _Relabelled(snp.test, seed),
                os.path.join(tmp, str(seed)),
                settings,
                snp_train=snp.train,
                snp_validation=snp.validation,
            )
            kept.append(summary["layers"]["classifier"]["kept_per_node"])
            self.assertEqual(summary["masks_from"], "validation")
        # other test labels, same masks
        self.assertEqual(kept[0], kept[1])
        self.assertEqual(kept[0], masks["classifier"].sum(axis=1).tolist())
