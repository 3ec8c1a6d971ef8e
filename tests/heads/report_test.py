import copy
import glob
import json
import os
import tempfile

import keras
import numpy as np

from keras_snp.heads import analyze_heads
from keras_snp.heads import validate_heads_json
from keras_snp.heads import write_heads_report
from keras_snp.heads.schema import SchemaError
from keras_snp.run.heads_board import log_heads
from keras_snp.snp import SNPResult
from keras_snp.snp import clusters
from tests.heads.planted import planted_result
from tests.heads.planted import planted_tap
from tests.helpers import TestCase
from tests.helpers import tiny_cct

K = 6


def tiny_setup():
    keras.utils.set_random_seed(0)
    model = tiny_cct(num_classes=K)
    tokens = model.get_layer("encoder_1_mha").output.shape[1]
    snp = planted_result(K=K, H=2, encoders=2)
    rng = np.random.default_rng(0)
    snp.taps["encoder_1_mha"].W = rng.normal(size=(K, tokens, 16)).astype(
        "float32"
    )
    snp.taps["encoder_1_mha"].tokens = tokens
    x = rng.uniform(0, 255, size=(18, 16, 16, 3)).astype("float32")
    y = np.arange(18) % K
    batches = [(x[i : i + 6], np.eye(K)[y[i : i + 6]]) for i in (0, 6, 12)]
    return model, snp, batches


def read_events(log_dir):
    import tensorflow as tf

    found = {}
    for path in glob.glob(os.path.join(log_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                plugin = value.metadata.plugin_data.plugin_name
                found.setdefault(value.tag, set()).add(plugin)
    return found


class AnalyzeHeadsTest(TestCase):
    def test_end_to_end_files_and_tensorboard(self):
        model, snp, batches = tiny_setup()
        report = analyze_heads(snp, model, batches, null_samples=200)
        data = report.to_dict()
        validate_heads_json(data)
        self.assertTrue(data["head_only_available"])
        self.assertTrue(data["ablation_available"])
        enc1, enc2 = data["encoders"]
        self.assertEqual(enc1["heads"][0]["labels"], [0, 1, 2])
        self.assertEqual(
            enc1["heads"][1]["label_names"], ["label_3", "label_4", "label_5"]
        )
        self.assertEqual(len(enc1["heads"][0]["head_only"]["per_label"]), K)
        self.assertIsNone(enc2["heads"][0]["head_only"])  # no W
        drop = enc2["heads"][1]["ablation"]
        self.assertAllClose(
            drop["contrast"],
            drop["mean_drop_on_labels"] - drop["mean_drop_on_others"],
        )

        with tempfile.TemporaryDirectory() as tmp:
            out, logs = os.path.join(tmp, "heads"), os.path.join(tmp, "tb")
            paths = write_heads_report(report, out)
            log_heads(report, paths, logs)
            with open(paths["json"]) as f:
                on_disk = json.load(f)
            validate_heads_json(on_disk)
            self.assertEqual(
                on_disk["encoders"][0]["heads"][1]["labels"], [3, 4, 5]
            )
            for png in ("encoder_1.png", "encoder_2.png"):
                with open(os.path.join(out, png), "rb") as f:
                    self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
            with open(paths["markdown"]) as f:
                markdown = f.read()
            self.assertIn("## Encoder 2", markdown)
            self.assertIn("label_3, label_4, label_5", markdown)
            # Two heads of 3 labels out of 6 are disjoint by chance once in
            # 20: the second null (labels renamed per head) cannot reject.
            self.assertIn("Against heads that picked their label", markdown)
            self.assertIn("Symmetry breaking: **no**", markdown)
            self.assertNotIn("n/a", markdown)
            self.assertEqual(
                sorted(os.listdir(out)),
                ["encoder_1.png", "encoder_2.png", "heads.json", "heads.md"],
            )
            events = read_events(logs)
            self.assertEqual(events["heads/encoder_1"], {"images"})
            self.assertEqual(events["heads/encoder_2"], {"images"})
            self.assertEqual(events["heads_report"], {"text"})
            # One report: a table and a figure over encoders, no scalars.
            self.assertEqual(events["heads_by_encoder"], {"text"})
            self.assertEqual(events["heads/by_depth"], {"images"})
            self.assertNotIn("coverage", events)

    def test_recomputation_from_saved_snp(self):
        snp = planted_result(K=12, H=3, encoders=2)
        with tempfile.TemporaryDirectory() as tmp:
            snp.save(tmp)
            loaded = SNPResult.load(tmp)
        data = analyze_heads(loaded, null_samples=10).to_dict()
        self.assertFalse(data["head_only_available"])
        for enc in data["encoders"]:
            tap = snp.taps[enc["tap"]]
            for h in enc["heads"]:
                members = tap.V[tap.head == h["head"]].sum(axis=0)
                self.assertEqual(
                    h["labels"], clusters.diagonal_set(members, 0.3).tolist()
                )
                self.assertIsNone(h["head_only"])
                self.assertIsNone(h["ablation"])

    def test_mixed_heads_not_claimed_in_report(self):
        snp = planted_result(mixed=True, K=12, H=3, encoders=1)
        data = analyze_heads(snp, null_samples=50).to_dict()
        self.assertFalse(data["encoders"][0]["symmetry_breaking"])

    def test_errors(self):
        snp = planted_result(K=12, H=3, encoders=1)
        with self.assertRaisesRegex(ValueError, "`label_names` must hold"):
            analyze_heads(snp, null_samples=0, label_names=["a"])
        snp.taps["encoder_1_mha"].kind = "ff"
        with self.assertRaisesRegex(ValueError, "no MHA tap"):
            analyze_heads(snp, null_samples=0)


class SchemaTest(TestCase):
    def test_rejects_violations(self):
        snp = SNPResult({"encoder_1_mha": planted_tap()}, 0.3)
        good = analyze_heads(snp, null_samples=5).to_dict()
        validate_heads_json(json.loads(json.dumps(good)))
        bad = copy.deepcopy(good)
        del bad["encoders"][0]["heads"][0]["n_h"]
        with self.assertRaisesRegex(SchemaError, "missing keys \\['n_h'\\]"):
            validate_heads_json(bad)
        bad = copy.deepcopy(good)
        bad["label_names"] = bad["label_names"][:3]
        with self.assertRaisesRegex(SchemaError, "expected 12 names"):
            validate_heads_json(bad)
        bad = copy.deepcopy(good)
        bad["encoders"][0]["heads"][0]["labels"].append(11)
        bad["encoders"][0]["heads"][0]["num_labels"] += 1
        bad["encoders"][0]["heads"][0]["label_names"].append("11")
        with self.assertRaisesRegex(SchemaError, "heads_per_label"):
            validate_heads_json(bad)
        bad = copy.deepcopy(good)
        bad["encoders"][0]["null"]["coverage"]["p"] = "small"
        with self.assertRaisesRegex(SchemaError, "null.coverage.p"):
            validate_heads_json(bad)
        with self.assertRaisesRegex(SchemaError, "schema_version"):
            validate_heads_json({**good, "schema_version": 2})


class ChosenOnValidationTest(TestCase):
    def test_labels_come_from_validation_fields_when_measured(self):
        import dataclasses

        planted = planted_tap(mixed=False, seed=1)  # heads own 4 labels each
        mixed = planted_tap(mixed=True, seed=1)
        # Test fields mixed, validation fields planted: the labels follow
        # validation, and the report says so.
        tap = dataclasses.replace(mixed, V_validation=planted.V)
        snp = SNPResult(taps={tap.name: tap}, theta=0.3)
        data = analyze_heads(snp, null_samples=50).to_dict()
        self.assertEqual(data["labels_chosen_on"], "validation")
        labels = [h["labels"] for h in data["encoders"][0]["heads"]]
        self.assertEqual(labels, [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]])
        validate_heads_json(data)
        plain = analyze_heads(
            SNPResult(taps={mixed.name: mixed}, theta=0.3), null_samples=50
        ).to_dict()
        self.assertEqual(plain["labels_chosen_on"], "test")
        self.assertNotEqual(
            [h["labels"] for h in plain["encoders"][0]["heads"]], labels
        )
