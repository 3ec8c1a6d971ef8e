import subprocess
import sys

from keras_snp.cli import reproduce as runner
from keras_snp.utils import UsageError
from tests.helpers import TestCase


class RunnerTest(TestCase):
    def test_defaults(self):
        args = runner.reproduce_parser().parse_args(
            ["--dataset", "../shared/data/cifar100/cifar100.npz"]
        )
        config = runner.make_config(args)
        self.assertEqual(config.variant, "cct_4_3x2")
        self.assertEqual(config.image_size, 32)
        self.assertEqual(config.recipe, "light")
        self.assertEqual(config.epochs, 10)
        self.assertEqual(config.snp_epochs, 200)
        self.assertEqual(config.readout_solver, "stream")
        self.assertEqual(
            config.stages,
            ("train", "export", "snp", "heads", "control", "prune"),
        )
        cnn = runner.make_config(
            runner.reproduce_parser().parse_args(["--model", "cnn"])
        )
        self.assertEqual(
            (cnn.variant, cnn.stages), ("cnn_4block", ("train", "snp"))
        )

    def test_command_line_drops_resume(self):
        self.assertEqual(
            runner.command_line(["--dataset", "a b.npz", "--resume"]),
            "python scripts/reproduce.py --dataset 'a b.npz'",
        )

    def test_bad_flags(self):
        with self.assertRaisesRegex(UsageError, "--publish must end in .md"):
            runner.reproduce_main(["--publish", "report.txt"])
        with self.assertRaisesRegex(UsageError, "--compare /nowhere"):
            runner.reproduce_main(["--compare", "/nowhere"])

    def test_script_help_and_exit_status(self):
        help_text = subprocess.run(
            [sys.executable, "scripts/reproduce.py", "--help"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        self.assertIn("--model {cct,cnn}", help_text)
        bad = subprocess.run(
            [sys.executable, "scripts/reproduce.py", "--compare", "/x"],
            capture_output=True,
            text=True,
        )
        self.assertEqual(bad.returncode, 2)
        self.assertIn("error: --compare /x", bad.stderr)
