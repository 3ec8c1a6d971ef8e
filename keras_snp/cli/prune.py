"""`keras-snp prune` (`scripts/prune.py`): ANDC pruning of a finished
run from its SNP results."""

import dataclasses
import os

from keras_snp.cli.common import SCOPE_HELP
from keras_snp.cli.common import Parser
from keras_snp.cli.common import add_fine_tune_option
from keras_snp.cli.common import add_quiet_option
from keras_snp.cli.common import fraction
from keras_snp.cli.common import scope
from keras_snp.cli.common import setup_logging
from keras_snp.run.summary import print_summary
from keras_snp.utils import UsageError


def prune_parser():
    parser = Parser(
        "prune",
        description="ANDC pruning of a finished run from its SNP results: "
        "writes RUN_DIR/pruned/.",
    )
    parser.add_argument(
        "run_dir", help="a run folder with model.keras and snp/"
    )
    parser.add_argument(
        "--scope",
        type=scope,
        dest="prune_scope",
        metavar="SCOPE",
        help=SCOPE_HELP + " (default: the run's)",
    )
    parser.add_argument(
        "--theta",
        type=fraction,
        help="SNP threshold between 0 and 1 (default: the run's)",
    )
    add_fine_tune_option(parser, default_help="the run's")
    parser.add_argument(
        "--unsafe",
        action="store_true",
        help="allow models that need safe_mode=False",
    )
    add_quiet_option(parser)
    return parser


def prune_main(argv=None):
    args = prune_parser().parse_args(argv)
    from keras_snp.run.config import RunConfig
    from keras_snp.run.folder import RunFolder
    from keras_snp.utils import read_json

    run_json = os.path.join(args.run_dir, "run.json")
    for needed in (run_json, os.path.join(args.run_dir, "snp", "snp.npz")):
        if not os.path.exists(needed):
            raise UsageError(
                f"{args.run_dir} has no {os.path.basename(needed)}: run "
                "train.py (with the snp stage) first."
            )
    setup_logging(args.verbose)
    from keras_snp.run import export as export_lib
    from keras_snp.run import pipeline

    state = read_json(run_json)
    fields = RunConfig.__dataclass_fields__
    config = RunConfig(
        **{k: v for k, v in state["config"].items() if k in fields}
    )
    overrides = {
        "prune_scope": args.prune_scope,
        "theta": args.theta,
        "fine_tune_epochs": args.fine_tune_epochs,
    }
    config = dataclasses.replace(
        config, **{k: v for k, v in overrides.items() if v is not None}
    )
    config = pipeline.resolve_config(config)
    model = export_lib.load_model(
        os.path.join(args.run_dir, "model.keras"), safe_mode=not args.unsafe
    )
    splits = pipeline.load_data(config)
    from keras_snp.training import strategy as strategy_lib

    folder = RunFolder(args.run_dir, state)
    ctx = pipeline.Context(
        config,
        folder,
        strategy_lib.Placement("single", 1, ["default"]),
        splits,
        model,
    )
    pipeline.run_stages(ctx, ("prune",), redo=("prune",))
    print_summary(args.run_dir)
    return 0
