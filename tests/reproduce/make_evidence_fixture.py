"""Writes the committed evidence fixture `tests/reproduce/evidence_fixture/`
from the synthetic run folder of `report_test.make_run`:

    python -m tests.reproduce.make_evidence_fixture
"""

import os
import tempfile

from keras_snp.reproduce import evidence
from keras_snp.reproduce import report
from tests.reproduce.report_test import make_run

FIXTURE = os.path.join(os.path.dirname(__file__), "evidence_fixture")


def main():
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = make_run(os.path.join(tmp, "run"))
        report.write_report(run_dir, bootstrap=200)
        evidence.write_evidence(run_dir, FIXTURE)
        # the report the fixture's verdicts must rebuild to
        os.replace(
            os.path.join(run_dir, "report.json"),
            os.path.join(FIXTURE, "expected_report.json"),
        )


if __name__ == "__main__":
    main()
