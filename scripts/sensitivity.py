"""Sensitivity runs: claims 1, 2 and 4 of a run folder measured again with
one setting changed at a time, beside the run's own verdicts.

    python scripts/sensitivity.py RUN_DIR --vary theta=0.2 \
        --vary readout_solver=stream [--out DIR] [--quiet]

Each `--vary KEY=VALUE` is one change (several settings in one change:
`--vary theta=0.2,readout_views=4`). Settings: the SNP's and the heads'
(`theta`, `readout`, `readout_solver`, `readout_views`,
`readout_stream_views`, `readout_tolerance`, `readout_max_passes`,
`snp_epochs`, `readout_seeds`, `null_samples`). Writes `DIR/<change>/`
(SNP and heads, a folder `analyze_run` reads), `DIR/SENSITIVITY.md` and
`DIR/sensitivity.json` (default DIR: `RUN_DIR/sensitivity`). Run it again
to resume: complete changes are kept.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir")
    parser.add_argument(
        "--vary",
        action="append",
        required=True,
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="one change of the run's settings (repeat for more)",
    )
    parser.add_argument("--out", help="default: RUN_DIR/sensitivity")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    run_json = os.path.join(args.run_dir, "run.json")
    if not os.path.isfile(run_json):
        print(
            f"error: {args.run_dir} holds no run.json: give a run folder "
            "(train.py's --output-dir/--run-name).",
            file=sys.stderr,
        )
        return 2
    from keras_snp.cli.common import setup_logging

    setup_logging(not args.quiet)
    from keras_snp.reproduce import sensitivity
    from keras_snp.run.config import RunConfig
    from keras_snp.utils import UsageError
    from keras_snp.utils import read_json

    try:
        config = RunConfig.from_dict(read_json(run_json)["config"])
        changes = []
        for text in args.vary:
            change = {}
            for part in text.split(","):
                change.update(sensitivity.parse_change(part, config))
            changes.append(change)
        out = args.out or os.path.join(args.run_dir, "sensitivity")
        sensitivity.sensitivity(
            args.run_dir,
            changes,
            out,
            verbose=0 if args.quiet else 1,
            resamples=args.bootstrap,
        )
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    with open(os.path.join(out, "SENSITIVITY.md"), encoding="utf-8") as f:
        print(f.read())
    return 0


if __name__ == "__main__":
    sys.exit(main())
