"""A report rebuilt from its evidence (per-node statistics, no fields, no
model) gives the report of the run folder, number for number."""

import json
import os
import shutil
import subprocess
import sys
import tempfile

import numpy as np

from keras_snp.reproduce import analysis
from keras_snp.reproduce import evidence
from keras_snp.snp import clusters
from keras_snp.utils import read_json
from tests.helpers import ROOT
from tests.helpers import TestCase
from tests.reproduce.report_test import make_run

FIXTURE = os.path.join(os.path.dirname(__file__), "evidence_fixture")


def _claims(a):
    return json.loads(json.dumps(a["claims"], default=float))


class EvidenceTest(TestCase):
    def test_node_statistics_round_trip(self):
        rng = np.random.default_rng(0)
        V = rng.normal(size=(12, 5, 5)) + 2 * np.eye(5)
        arrays = {f"t.{k}": v for k, v in evidence.node_arrays(V, 0.3).items()}
        table = evidence.tables_from_nodes(arrays)["t"]
        reference = clusters.node_table(V, 0.3)
        for key in ("diag", "clusters", "signal", "noise"):
            np.testing.assert_array_equal(table[key], reference[key])
        for got, want in zip(table["sizes"], reference["sizes"]):
            np.testing.assert_array_equal(got, want)
        mask = np.unpackbits(arrays["t.diag_mask"], axis=-1, count=5)
        np.testing.assert_array_equal(mask, clusters.diagonal_mask(V, 0.3))

    def test_evidence_rebuilds_the_same_claims(self):
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = make_run(os.path.join(tmp, "run"))
            full = analysis.analyze_run(run_dir, resamples=200)
            out = evidence.write_evidence(run_dir, os.path.join(tmp, "ev"))
            self.assertFalse(
                os.path.exists(os.path.join(out, "snp", "snp.npz"))
            )
            rebuilt = analysis.analyze_run(out, resamples=200)
            self.assertTrue(_claims(rebuilt) == _claims(full), "claims differ")

    def test_rebuild_command_on_the_committed_fixture(self):
        expected = read_json(os.path.join(FIXTURE, "expected_report.json"))
        with tempfile.TemporaryDirectory() as tmp:
            folder = shutil.copytree(FIXTURE, os.path.join(tmp, "evidence"))
            done = subprocess.run(
                [
                    sys.executable,
                    os.path.join(ROOT, "scripts", "rebuild_report.py"),
                    folder,
                    "--bootstrap",
                    "200",
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            self.assertEqual(done.returncode, 0, done.stderr[-2000:])
            rebuilt = read_json(os.path.join(folder, "report.json"))
            self.assertTrue(
                _claims(rebuilt) == _claims(expected), "claims differ"
            )
            with open(os.path.join(folder, "REPORT.md")) as f:
                text = f.read()
            self.assertIn("Claim", text)
            bad = subprocess.run(
                [
                    sys.executable,
                    os.path.join(ROOT, "scripts", "rebuild_report.py"),
                    tmp,
                ],
                capture_output=True,
                text=True,
                cwd=ROOT,
            )
            self.assertEqual(bad.returncode, 2)
            self.assertEqual(len(bad.stderr.strip().splitlines()), 1)
