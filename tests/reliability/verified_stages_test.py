"""A synthetic run end to end: every readout converged (issue: converged
SNP), and a stage whose files were emptied or truncated is run again on
`--resume`, never passed."""

import json

import numpy as np
import pytest

from tests.run.scripts import QUICK
from tests.run.scripts import run_script


@pytest.mark.slow
def test_converged_readouts_and_broken_outputs_rerun(tmp_path):
    common = [
        *QUICK,
        "--epochs",
        "2",
        "--output-dir",
        str(tmp_path),
        "--run-name",
        "r",
        "--stages",
        "train",
        "export",
        "snp",
        "heads",
        "--null-samples",
        "5",
    ]
    done = run_script("train.py", *common)
    assert done.returncode == 0, done.stderr[-3000:]
    run = tmp_path / "r"
    summary = json.loads((run / "snp" / "summary.json").read_text())
    K = summary["num_classes"]
    for name, tap in summary["taps"].items():
        assert tap["convergence"]["converged"] is True, (name, tap)
        assert tap["convergence"]["loss"] < np.log(K), name
    assert "SNP readouts: 6 of 6 converged" in done.stdout + done.stderr

    heads = run / "heads" / "heads.json"
    good = heads.read_text()
    snp_before = (run / "snp" / "snp.npz").read_bytes()
    heads.write_text("")  # a 0-byte heads.json must not pass
    again = run_script("train.py", *common, "--resume")
    assert again.returncode == 0, again.stderr[-3000:]
    assert "heads/heads.json does not match" in again.stderr
    # snp verified, so it was skipped: its arrays are the same bytes
    assert (run / "snp" / "snp.npz").read_bytes() == snp_before
    assert json.loads(heads.read_text()).keys() == json.loads(good).keys()
