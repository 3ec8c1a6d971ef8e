import os
import re
import shutil
import tempfile

import numpy as np

from keras_snp.heads import analyze_heads
from keras_snp.heads import write_heads_report
from keras_snp.reproduce import analysis
from keras_snp.reproduce import pruning_report
from keras_snp.reproduce import report
from keras_snp.snp.result import SNPResult
from keras_snp.snp.result import TapResult
from keras_snp.utils import read_json
from keras_snp.utils import write_json
from tests.helpers import TestCase

K = 6
N_TEST = 400
VERDICTS = ("reproduced", "not reproduced", "inconclusive at this budget")


def _tap(name, kind, encoder, noise, rng, heads=2, nodes=16):
    V = np.eye(K)[None] * (1 + rng.random((nodes, 1, 1)))
    V = V + noise * rng.random((nodes, K, K))
    head = (
        np.arange(nodes) // (nodes // heads)
        if kind == "mha"
        else -np.ones(nodes)
    ).astype("int32")
    return TapResult(
        name,
        kind,
        encoder,
        V.astype("float32"),
        head,
        tokens=4,
        readout_accuracy=0.3 + 0.1 * encoder,
    )


def make_run(path, seed=0):
    """A run folder with the files a CCT reproduce run leaves behind:
    noise falls with depth, accuracy rises, ANDC = unpruned."""
    rng = np.random.default_rng(seed)
    taps = {}
    for l, noise in zip((1, 2, 3), (1.5, 0.9, 0.6)):
        for kind, layer in (
            ("mha", "mha"),
            ("ff", "ff_hidden"),
            ("res", "out"),
        ):
            name = f"encoder_{l}_{layer}"
            taps[name] = _tap(name, kind, l, noise, rng)
    result = SNPResult(taps, theta=0.3, label_names=list("abcdef"))
    result.save(os.path.join(path, "snp"))
    heads = analyze_heads(result, null_samples=20, seed=0)
    write_heads_report(heads, os.path.join(path, "heads"))
    unpruned = rng.random(N_TEST) < 0.6
    tuned = rng.random(N_TEST) < 0.7
    hits = {
        "unpruned": unpruned,
        "andc_masked": unpruned.copy(),
        "unpruned_fine_tuned": tuned,
        # ANDC after the fine-tune = the unpruned model after it; both
        # better than the unpruned model before
        "andc_fine_tuned": tuned.copy(),
        "random_fine_tuned": rng.random(N_TEST) < 0.4,
        "magnitude_fine_tuned": tuned.copy(),
    }
    ref = float(tuned.mean())
    tune = {
        "epochs": 1,
        "recipe": "light",
        "learning_rate": 1e-3,
        "weight_decay": 0.05,
        "warmup_epochs": 0,
        "steps_per_epoch": None,
        "seed": 0,
    }
    os.makedirs(os.path.join(path, "pruned"))
    np.savez(os.path.join(path, "pruned", "predictions.npz"), **hits)
    write_json(
        os.path.join(path, "pruned", "pruning.json"),
        {
            "scope": "all",
            "theta": 0.3,
            "masks_from": "validation",
            "scored_on": "test",
            "fine_tune": {**tune, "identical_for_all_rows": True},
            "accuracy_table": [
                {
                    "name": n,
                    "description": n,
                    "accuracy": float(h.mean()),
                    "sparsity": 0.0 if n.startswith("unpruned") else 0.5,
                }
                for n, h in hits.items()
            ],
            "dilution": 0.5,
            "dilution_by_scope": {"readout": 0.8, "ff": 0.4, "all": 0.5},
            "params": {"before": 100, "after": 60, "nonzero_after_masking": 50},
            "prunable_connections": 80,
            "flops": {"before": 10, "after": 6},
            "sizes": {
                "unpruned": {
                    "keras_bytes": 4 * 2**20,
                    "keras_deflated_bytes": 2 * 2**20,
                },
                "pruned": {"keras_bytes": 2**20, "keras_deflated_bytes": 2**20},
                "pruned_over_unpruned": {"keras_deflated_bytes": 0.5},
            },
            # readout: holds at dilution 0.3 (equal), not at 0.6 (-0.2)
            "sweep": {
                "fine_tune": tune,
                "thetas": [0.2, 0.4],
                "references": {
                    "unpruned": float(unpruned.mean()),
                    "unpruned_fine_tuned": ref,
                },
                "rows": [
                    {
                        "scope": "readout",
                        "theta": t,
                        "method": m,
                        "dilution": d,
                        "accuracy": a,
                    }
                    for t, d, a in ((0.2, 0.3, ref), (0.4, 0.6, ref - 0.2))
                    # accuracy as the hits below say
                    for m in ("andc", "random", "magnitude")
                ],
            },
            "sensitivity": {
                "theta": 0.3,
                "unpruned": 0.6,
                "rows": [
                    {
                        "layer": "classifier",
                        "scope": "readout",
                        "dilution": 0.8,
                        "accuracy": 0.5,
                        "drop": 0.1,
                    }
                ],
            },
        },
    )
    # the sweep's ANDC points, paired with unpruned_fine_tuned: the same
    # hits (difference 0) and 80 of its hits lost (-0.2)
    worse = tuned.copy()
    worse[np.flatnonzero(tuned)[:80]] = False
    np.savez(
        os.path.join(path, "pruned", "sweep_predictions.npz"),
        **{
            "readout|0.2|andc": tuned,
            "readout|0.4|andc": worse,
            # magnitude 80 hits under ANDC at 0.2 (ANDC + 0.2 on N_TEST),
            # equal to it at 0.4; no random hits at all
            "readout|0.2|magnitude": worse,
            "readout|0.4|magnitude": worse,
        },
    )
    # the fine-tune study: two lengths, two seeds; ANDC equal to unpruned
    study = {}
    for length in (1, 5):
        for seed in (0, 1):
            for row, hits_of_row in (
                ("unpruned", tuned),
                ("andc", tuned),
                ("magnitude", worse),
            ):
                study[f"{row}|{length}|{seed}"] = hits_of_row
    np.savez(os.path.join(path, "pruned", "fine_tune_predictions.npz"), **study)
    write_json(
        os.path.join(path, "pruned", "fine_tunes.json"),
        {
            "fine_tune": {"recipe": "light", "learning_rate": 6e-4},
            "epochs": [1, 5, 20],
            "seeds": [0, 1],
            "rows": {"andc": {"dilution": 0.5}},
            "predictions": "fine_tune_predictions.npz",
        },
    )
    write_json(
        os.path.join(path, "pruned", "bench.json"),
        {
            "backend": "tensorflow",
            "batch_size": 8,
            "unpruned": {
                "images_per_s": 100.0,
                "speed_ratio": 1.0,
                "params": 100,
                "flops": 10,
            },
            "andc_shrunk": {
                "images_per_s": 120.0,
                "speed_ratio": 1.2,
                "params": 60,
                "flops": 6,
            },
        },
    )
    write_json(
        os.path.join(path, "run.json"),
        {
            "run_name": "fake",
            "created_at": "2026-01-01T00:00:00+00:00",
            "config": {
                "variant": "cct_x",
                "image_size": 8,
                "dataset": "fake",
                "batch_size": 4,
                "learning_rate": 1e-3,
                "recipe": "light",
                "snp_epochs": 1,
            },
            "versions": {"keras": "3"},
            "placement": {"devices": ["gpu:0"], "precision": "mixed_bfloat16"},
            "dataset": {
                "split_sizes": {"train": 10, "validation": 0, "test": N_TEST}
            },
            "model": {"params": 100},
            "stages": {
                "train": {
                    "status": "done",
                    "finished_at": "2026-01-01T00:01:00+00:00",
                    "final_epoch": {"epoch": 3},
                    "test_accuracy": 0.6,
                }
            },
            "reproduce": {
                "command": "python scripts/reproduce.py --x 1",
                "model": "cct",
            },
        },
    )
    with open(os.path.join(path, "NOTES.md"), "w") as f:
        f.write("Budget: a fake run.\n")
    return path


def table_row(text, first_cell):
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if cells and cells[0] == first_cell:
            return cells
    raise AssertionError(f"no table row {first_cell!r}")


class ReportTest(TestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.tmp = tempfile.TemporaryDirectory()
        cls.run_dir = make_run(os.path.join(cls.tmp.name, "run"))
        cls.path = report.write_report(cls.run_dir, bootstrap=100)
        with open(cls.path) as f:
            cls.text = f.read()
        cls.analysis = read_json(os.path.join(cls.run_dir, "report.json"))

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()
        super().tearDownClass()

    def test_claims_and_verdicts(self):
        self.assertIn("python scripts/reproduce.py --x 1", self.text)
        # NOTES.md of the run folder, under the command
        self.assertIn("```\n\nBudget: a fake run.\n", self.text)
        verdicts = re.findall(r"\*\*Verdict: (.*)\*\*", self.text)
        self.assertEqual(len(verdicts), 4)
        for verdict in verdicts:
            self.assertIn(verdict, VERDICTS)
        for title, _ in report.CLAIMS:
            self.assertIn(f"## {title}", self.text)
        for name in ("depth.png", "pruning.png", "heads.png"):
            self.assertTrue(
                os.path.isfile(os.path.join(self.run_dir, "figures", name))
            )

    def test_a_model_that_did_not_learn_is_said_first(self):
        self.assertNotIn("did not learn", self.text)
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = make_run(os.path.join(tmp, "run"))
            state_path = os.path.join(run_dir, "run.json")
            state = read_json(state_path)
            state["not_learned"] = "validation accuracy 0.011 <= 0.020"
            write_json(state_path, state)
            with open(report.write_report(run_dir, bootstrap=20)) as f:
                lines = f.read().splitlines()
        self.assertTrue(lines[0].startswith("# Reproduction report"))
        self.assertIn("did not learn", lines[2])
        self.assertIn("validation accuracy 0.011 <= 0.020", lines[2])

    def test_readouts_not_converged_are_named_at_the_top(self):
        self.assertNotIn("NOT converged", self.text)
        with tempfile.TemporaryDirectory() as tmp:
            run_dir = make_run(os.path.join(tmp, "run"))
            path = os.path.join(run_dir, "snp", "summary.json")
            summary = read_json(path)
            name = sorted(summary["taps"])[0]
            summary["taps"][name]["convergence"] = {"converged": False}
            write_json(path, summary)
            with open(report.write_report(run_dir, bootstrap=20)) as f:
                head = f.read().split("## ")[0]
        self.assertIn(f"NOT converged** for 1 tap(s): `{name}`", head)

    def test_budget_names_where_the_run_trained(self):
        # 10 images x 3 epochs over the 60 s of the train stage
        self.assertIn(
            "Measured here: 0 training images/s over the train stage "
            "(1.0 min, gpu:0, mixed_bfloat16).",
            self.text,
        )

    def test_numbers_equal_the_json_files(self):
        summary = read_json(os.path.join(self.run_dir, "snp", "summary.json"))
        for name, tap in summary["taps"].items():
            row = table_row(self.text, name)
            # the claim-1 table: accuracy in the last cell
            self.assertEqual(row[-1], f"{tap['readout_accuracy']:.4f}")
        lines = [
            l
            for l in self.text.splitlines()
            if l.startswith("| encoder_3_ff_hidden | 3 |")
        ]
        tap = summary["taps"]["encoder_3_ff_hidden"]
        expected = " | ".join(
            f"{tap[k]:.4f}" for k in report.analysis_lib.TAP_STATS
        )
        self.assertIn(expected, lines[0])
        pruning = read_json(
            os.path.join(self.run_dir, "pruned", "pruning.json")
        )
        for row in pruning["accuracy_table"]:
            self.assertEqual(
                table_row(self.text, row["name"])[1], f"{row['accuracy']:.4f}"
            )
        heads = read_json(os.path.join(self.run_dir, "heads", "heads.json"))
        for e in heads["encoders"]:
            cells = table_row(self.text, str(e["encoder"]))
            z = e["null"]["mean_entropy"]["z"]
            self.assertIn(f"z {report.fmt(z, 2)}", " ".join(cells))

    def test_verdicts_follow_the_data(self):
        claims = self.analysis["claims"]
        # accuracy rises 0.4 -> 0.5 -> 0.6 on 400 images: reproduced;
        # within every kind rho is exactly 1
        self.assertEqual(claims["accuracy_depth"]["verdict"], "reproduced")
        self.assertEqual(claims["accuracy_depth"]["pooled"]["rho"], 1.0)
        # ANDC equals unpruned_fine_tuned on every image: difference
        # exactly 0, though both differ from the unpruned model
        main = claims["pruning"]["differences"][0]
        self.assertEqual(
            (main["a"], main["b"]), ("andc_fine_tuned", "unpruned_fine_tuned")
        )
        self.assertEqual(
            (main["difference"], main["low"], main["high"]), (0.0, 0.0, 0.0)
        )
        self.assertEqual(claims["pruning"]["verdict"], "reproduced")
        pairs = [(d["a"], d["b"]) for d in claims["pruning"]["differences"]]
        self.assertIn(("unpruned_fine_tuned", "unpruned"), pairs)
        # the sweep: holds at dilution 0.3, not at 0.6
        sweep = claims["pruning"]["sweep"]
        self.assertTrue(sweep["same_fine_tune"])
        self.assertEqual(sweep["scopes"]["readout"]["holds_up_to"], 0.3)
        verdicts = [
            r["verdict"] for r in sweep["rows"] if r["method"] == "andc"
        ]
        self.assertEqual(verdicts, ["reproduced", "not reproduced"])
        self.assertTrue(sweep["paired"])
        controls = [
            r["controls"] for r in sweep["rows"] if r["method"] == "andc"
        ]
        self.assertEqual([sorted(c) for c in controls], [["magnitude"]] * 2)
        first, second = (c["magnitude"] for c in controls)
        self.assertAlmostEqual(first["difference"], 80 / N_TEST)
        self.assertGreater(first["low"], 0)
        self.assertEqual(
            (second["difference"], second["low"], second["high"]),
            (0.0, 0.0, 0.0),
        )
        # noise falls with depth by construction
        clusters_noise = claims["clusters_noise"]
        for kind in ("mha", "ff", "res"):
            trend = clusters_noise["trends"][kind]["mean_noise"]
            self.assertLess(trend["slope_high"], 0)
            # Both SNR formulas are tested, each with its own verdict.
            labels = clusters_noise["trends"][kind]["snr_labels"]
            self.assertLessEqual(labels["slope_low"], labels["slope"])
            self.assertIn(clusters_noise["snr_labels_verdicts"][kind], VERDICTS)
        if any(
            v != "reproduced"
            for v in clusters_noise["snr_labels_verdicts"].values()
        ):
            self.assertNotEqual(clusters_noise["verdict"], "reproduced")
        self.assertIn(claims["heads"]["verdict"], VERDICTS)

    def test_pruning_section(self):
        section = self.text.split("## 3.")[1].split("## 4.")[0]
        self.assertIn("readout 0.800, ff 0.400, all 0.500", section)
        self.assertIn("non-inferior up to dilution 0.300", section)
        row = table_row(section, "readout (sweep)")
        self.assertEqual(row[1:4], ["0.2", "0.3000", row[3]])
        self.assertTrue(row[-1].startswith(f"{80 / N_TEST:.4f} ["), row)
        # the stage's andc_fine_tuned and magnitude_fine_tuned: same hits
        self.assertEqual(
            table_row(section, "all (stage, paired)")[-1],
            "0.0000 [0.0000, 0.0000]",
        )
        self.assertIn("| andc_shrunk | 120.0 | 1.200 | 60 | 6 |", section)
        self.assertIn("| pruned | 1.00 MiB | 1.00 MiB |", section)
        self.assertIn("keras 0.500", section)
        self.assertIn("| classifier | readout |", section)
        # the fine-tune study: ANDC equal to unpruned at both lengths, 20
        # planned but not run
        for length in (1, 5):
            row = [
                r
                for r in section.splitlines()
                if r.startswith(f"| andc | {length} |")
            ]
            self.assertEqual(len(row), 1, section)
            self.assertIn("0.0000 [0.0000, 0.0000] | reproduced", row[0])
        self.assertIn("Lengths planned but not run: [20]", section)
        # 50 of 100 non-zero; <= 0.6 needs 40 more cut of the 80 prunable
        self.assertIn(
            "Lossless floor: 50 of 100 parameters stay non-zero (0.500); "
            "the scopes hold 80 of them (0.800), so a file <= 0.6 of the "
            "unpruned needs a dilution of at least 0.500.",
            section,
        )

    def test_pruned_model_snp_beside_the_unpruned(self):
        self.assertNotIn("SNP of the pruned model", self.text)
        run = make_run(os.path.join(self.tmp.name, "with_pruned_snp"), seed=3)
        summary = read_json(os.path.join(run, "snp", "summary.json"))
        for i, tap in enumerate(summary["taps"].values()):
            tap["readout_accuracy"] = 0.01 * (i + 1)
        os.makedirs(os.path.join(run, "pruned", "snp"))
        os.makedirs(os.path.join(run, "pruned", "heads"))
        write_json(os.path.join(run, "pruned", "snp", "summary.json"), summary)
        heads = read_json(os.path.join(run, "heads", "heads.json"))
        for encoder in heads["encoders"]:
            encoder["symmetry_breaking"] = False
        write_json(os.path.join(run, "pruned", "heads", "heads.json"), heads)
        before = read_json(os.path.join(run, "snp", "summary.json"))["taps"]
        rows = analysis.pruned_snp(run)["rows"]
        self.assertEqual([r["tap"] for r in rows], list(before))
        for i, r in enumerate(rows):
            tap = before[r["tap"]]
            self.assertEqual(r["readout_accuracy_after"], 0.01 * (i + 1))
            self.assertEqual(
                r["readout_accuracy_before"], tap["readout_accuracy"]
            )
            self.assertEqual(r["snr_before"], r["snr_after"])
        with open(report.write_report(run, bootstrap=20)) as f:
            section = f.read().split("## 3.")[1].split("## 4.")[0]
        cells = table_row(section, "encoder_1_mha")
        first = before["encoder_1_mha"]["readout_accuracy"]
        self.assertEqual(cells[1], f"{report.fmt(first)} -> 0.0100")
        broken = sum(
            e["symmetry_breaking"]
            for e in read_json(os.path.join(run, "heads", "heads.json"))[
                "encoders"
            ]
        )
        self.assertIn(f"{broken} of 3 before pruning, 0 of 3 after", section)

    def test_size_floor_beyond_the_scopes(self):
        claim = {
            "params": {"before": 1000, "nonzero_after_masking": 900},
            "prunable_connections": 300,
        }
        (_, line) = pruning_report._size_floor(claim)
        self.assertIn("at least 1.333 (more than the scopes hold).", line)

    def test_claim_3_needs_the_fine_tuned_control(self):
        run = make_run(os.path.join(self.tmp.name, "old"), seed=2)
        path = os.path.join(run, "pruned", "predictions.npz")
        hits = dict(np.load(path))
        del hits["unpruned_fine_tuned"]
        np.savez(path, **hits)
        claim = report.analysis_lib.claim_pruning(run, 20, 0)
        self.assertEqual(claim["verdict"], "inconclusive at this budget")
        self.assertIn("unpruned_fine_tuned", claim["why"])

    def test_publish_rewrites_figure_links(self):
        target = os.path.join(self.tmp.name, "docs", "cifar-x.md")
        report.publish(self.run_dir, target)
        with open(target) as f:
            text = f.read()
        self.assertIn("](cifar-x/depth.png)", text)
        self.assertNotIn("](figures/", text)
        self.assertTrue(
            os.path.isfile(
                os.path.join(self.tmp.name, "docs", "cifar-x", "pruning.png")
            )
        )

    def test_claim_2_from_an_earlier_report_without_snp_arrays(self):
        copy = os.path.join(self.tmp.name, "without_npz")
        shutil.copytree(self.run_dir, copy)
        os.remove(os.path.join(copy, "snp", "snp.npz"))
        from keras_snp.utils import UsageError

        with self.assertRaisesRegex(UsageError, "neither snp/snp.npz"):
            report.write_report(copy, bootstrap=100)
        path = report.write_report(
            copy,
            bootstrap=100,
            clusters_noise=self.analysis["claims"]["clusters_noise"],
        )
        with open(path) as f:
            text = f.read()
        self.assertEqual(text, self.text.replace(self.run_dir, copy))
        rewritten = read_json(os.path.join(copy, "report.json"))
        self.assertEqual(
            rewritten["claims"],
            read_json(os.path.join(self.run_dir, "report.json"))["claims"],
        )

    def test_compare_section(self):
        other = make_run(os.path.join(self.tmp.name, "other"), seed=1)
        path = report.write_report(self.run_dir, compare=other, bootstrap=20)
        with open(path) as f:
            text = f.read()
        self.assertIn("## Side by side: fake and fake", text)
        report.write_report(self.run_dir, bootstrap=100)  # restore
