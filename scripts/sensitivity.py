"""Sensitivity runs: claims 1, 2 and 4 of a run folder measured again with
one setting changed at a time, beside the run's own verdicts.

    python scripts/sensitivity.py RUN_DIR --vary theta=0.2 \
        --vary readout_solver=stream [--out DIR] [--publish PATH.md] [--quiet]
    python scripts/sensitivity.py --rebuild PATH

Each `--vary KEY=VALUE` is one change (several settings in one change:
`--vary theta=0.2,readout_views=4`). Settings: the SNP's and the heads'
(`theta`, `readout`, `readout_solver`, `readout_views`,
`readout_stream_views`, `readout_tolerance`, `readout_max_passes`,
`snp_epochs`, `readout_seeds`, `null_samples`). Writes `DIR/<change>/`
(SNP and heads, a folder `analyze_run` reads), `DIR/SENSITIVITY.md` and
`DIR/sensitivity.json` (default DIR: `RUN_DIR/sensitivity`). Run it again
to resume: complete changes are kept. `--publish PATH.md` also writes the
evidence of the table into `PATH/` and the table, computed from it, to
`PATH.md`; `--rebuild PATH` computes it again from that evidence alone.
"""

import argparse
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", nargs="?")
    parser.add_argument(
        "--vary",
        action="append",
        metavar="KEY=VALUE[,KEY=VALUE]",
        help="one change of the run's settings (repeat for more)",
    )
    parser.add_argument("--out", help="default: RUN_DIR/sensitivity")
    parser.add_argument(
        "--publish",
        metavar="PATH.md",
        help="also write the table's evidence into PATH/ and the table to "
        "PATH.md",
    )
    parser.add_argument(
        "--rebuild",
        metavar="PATH",
        help="print the table of a published run from its evidence alone",
    )
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.rebuild is None and (args.run_dir is None or not args.vary):
        parser.error("give RUN_DIR and at least one --vary, or --rebuild PATH")
    if args.rebuild is None and not os.path.isfile(
        os.path.join(args.run_dir, "run.json")
    ):
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
        if args.rebuild is not None:
            table = sensitivity.rebuild(args.rebuild, resamples=args.bootstrap)
            print(sensitivity.render(table))
            return 0
        config = RunConfig.from_dict(
            read_json(os.path.join(args.run_dir, "run.json"))["config"]
        )
        changes = []
        for text in args.vary:
            change = {}
            for part in text.split(","):
                change.update(sensitivity.parse_change(part, config))
            changes.append(change)
        out = args.out or os.path.join(args.run_dir, "sensitivity")
        table = sensitivity.sensitivity(
            args.run_dir,
            changes,
            out,
            verbose=0 if args.quiet else 1,
            resamples=args.bootstrap,
            publish=args.publish,
        )
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print(sensitivity.render(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
