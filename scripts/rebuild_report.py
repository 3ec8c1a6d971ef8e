"""Rebuilds a reproduction report from its evidence: no model, no data.

    python scripts/rebuild_report.py EVIDENCE_DIR [--bootstrap N] [--seed S]

`EVIDENCE_DIR` is the `evidence/` folder that `scripts/reproduce.py
--publish PATH.md` writes beside a published report (or that
`keras_snp.reproduce.evidence.write_evidence` writes from a run folder):
`run.json`, the SNP summaries, per-node statistics (`snp/nodes.npz`), the
heads' reports, the pruning summaries and the per-image correctness
vectors. Writes `REPORT.md`, `report.json` and `figures/` into it.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evidence_dir")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if not os.path.isfile(os.path.join(args.evidence_dir, "run.json")):
        print(
            f"error: {args.evidence_dir} holds no run.json: give the "
            "evidence/ folder beside a published report.",
            file=sys.stderr,
        )
        return 2
    from keras_snp.reproduce.report import write_report
    from keras_snp.utils import UsageError

    try:
        print(
            write_report(
                args.evidence_dir, bootstrap=args.bootstrap, seed=args.seed
            )
        )
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
