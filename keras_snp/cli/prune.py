"""`keras-snp prune` (`scripts/prune.py`): ANDC pruning of a finished
run from its SNP results.

    keras-snp prune RUN_DIR                  # the pruning stage again
    keras-snp prune MODEL.keras --dataset D  # any saved model an adapter reads
    keras-snp prune RUN_DIR --sweep --thetas 0.1,0.3,0.5 \
        --fine-tune-steps 50 --structured 0.25
    keras-snp prune RUN_DIR --fine-tune-study --study-epochs 1,5,20 \
        --study-seeds 0,1,2

With any of the analysis flags (`--sweep`, `--thetas`, `--sweep-scopes`,
`--fine-tune-steps`, `--structured`) the stage runs with those settings
(`keras_snp.run.prune_run.prune_run`): `--sweep` adds dilution-accuracy
curves per scope (ANDC, random, magnitude, same fine-tune) and the
per-layer sensitivity table to `pruning.json` and `sweep.png`.

`--fine-tune-study` (`keras_snp.run.fine_tune_study`) fine-tunes the
unpruned model, ANDC, magnitude and ANDC with the lab's classifier mask at
each length with each seed, into `pruned/fine_tunes.json`; it reuses a
finished prune stage (runs it first only when there is none; with it,
`--fine-tune-steps` is the study's budget and does not rerun the stage)
and continues an interrupted study.
"""

import os

from keras_snp.cli.common import SCOPE_HELP
from keras_snp.cli.common import Parser
from keras_snp.cli.common import add_data_options
from keras_snp.cli.common import add_fine_tune_option
from keras_snp.cli.common import add_quiet_option
from keras_snp.cli.common import check_writable
from keras_snp.cli.common import fraction
from keras_snp.cli.common import non_negative_int
from keras_snp.cli.common import positive_int
from keras_snp.cli.common import scope
from keras_snp.cli.common import start
from keras_snp.cli.prune_model import add_model_options
from keras_snp.cli.prune_model import prune_saved_model
from keras_snp.run.summary import print_summary
from keras_snp.utils import UsageError


def prune_parser():
    parser = Parser(
        "prune",
        description="ANDC pruning of a finished run from its SNP results: "
        "writes RUN_DIR/pruned/.",
    )
    parser.add_argument(
        "run_dir",
        metavar="RUN_DIR",
        help="a run folder with model.keras and snp/, or a saved .keras "
        "model of any adapter (with --dataset)",
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
    _add_analysis_options(parser)
    _add_study_options(parser)
    add_data_options(parser, dataset_default=None)
    add_model_options(parser)
    return parser


def _add_analysis_options(parser):
    from keras_snp.pruning.scopes import DEFAULT_THETAS
    from keras_snp.pruning.scopes import LAYER_SCOPES

    group = parser.add_argument_group(
        "analysis beyond the stage (any of these runs the stage with them)"
    )
    group.add_argument(
        "--sweep",
        action="store_true",
        help="dilution-accuracy curves per scope for ANDC, random and "
        "magnitude after the same fine-tune, and a per-layer "
        "sensitivity table",
    )
    group.add_argument(
        "--thetas",
        type=_fractions,
        metavar="T1,T2,...",
        help="the sweep's thetas (default: "
        + ",".join(str(t) for t in DEFAULT_THETAS)
        + ")",
    )
    group.add_argument(
        "--sweep-scopes",
        type=_scopes,
        metavar="S1,S2,...",
        help="the sweep's scopes (default: " + ",".join(LAYER_SCOPES) + ")",
    )
    group.add_argument(
        "--fine-tune-steps",
        type=positive_int,
        metavar="N",
        help="batches per fine-tune epoch (a reduced budget; default: "
        "the whole training split)",
    )
    group.add_argument(
        "--structured",
        type=fraction,
        metavar="FRACTION",
        help="ours, beyond the paper: also cut this share of FF units and "
        "heads per encoder, weakest by SNP, shrunk physically",
    )


def _add_study_options(parser):
    group = parser.add_argument_group(
        "fine-tune study (reuses a finished prune stage's masks)"
    )
    group.add_argument(
        "--fine-tune-study",
        action="store_true",
        help="fine-tune unpruned, ANDC, magnitude and ANDC with the lab's "
        "classifier mask at each --study-epochs with each --study-seeds "
        "(pruned/fine_tunes.json)",
    )
    group.add_argument(
        "--study-epochs",
        type=_positive_ints,
        default=(1, 5, 20),
        metavar="E1,E2,...",
        help="fine-tune lengths of the study (default: 1,5,20)",
    )
    group.add_argument(
        "--study-seeds",
        type=_seeds,
        default=(0, 1, 2),
        metavar="S1,S2,...",
        help="fine-tune seeds of the study (default: 0,1,2)",
    )


def _positive_ints(text):
    return tuple(positive_int(t) for t in text.split(",") if t.strip())


def _seeds(text):
    return tuple(non_negative_int(t) for t in text.split(",") if t.strip())


def _fractions(text):
    return tuple(fraction(t) for t in text.split(",") if t.strip())


def _scopes(text):
    return [scope(t) for t in text.split(",") if t.strip()]


def _analysis_requested(args):
    # with --fine-tune-study, --fine-tune-steps is the study's budget
    steps = None if args.fine_tune_study else args.fine_tune_steps
    return args.sweep or any(
        value is not None
        for value in (args.thetas, args.sweep_scopes, steps, args.structured)
    )


def prune_main(argv=None):
    args = prune_parser().parse_args(argv)
    if args.run_dir.endswith(".keras"):
        return prune_saved_model(args)
    run_json = os.path.join(args.run_dir, "run.json")
    for needed in (run_json, os.path.join(args.run_dir, "snp", "snp.npz")):
        if not os.path.exists(needed):
            raise UsageError(
                f"{args.run_dir} has no {os.path.basename(needed)}: run "
                "train.py (with the snp stage) first."
            )
    check_writable(args.run_dir, "the run folder")
    start(args.verbose)
    # the run's own settings where these are None
    overrides = {
        "theta": args.theta,
        "fine_tune_epochs": args.fine_tune_epochs,
        "unsafe": args.unsafe,
        "verbose": args.verbose,
    }
    stage_done = os.path.isfile(
        os.path.join(args.run_dir, "pruned", "snp_validation", "snp.npz")
    )
    if _analysis_requested(args):
        _prune_with_analysis(args, overrides)
    elif args.fine_tune_study and stage_done:
        pass  # the study reuses the stage's masks
    else:
        from keras_snp.run import pipeline
        from keras_snp.run.prune_run import load_context

        ctx = load_context(
            args.run_dir, prune_scope=args.prune_scope, **overrides
        )
        pipeline.run_stages(ctx, ("prune",), redo=("prune",))
    if args.fine_tune_study:
        from keras_snp.run.fine_tune_study import run_fine_tune_study

        run_fine_tune_study(
            args.run_dir,
            epochs=args.study_epochs,
            seeds=args.study_seeds,
            fine_tune_steps=args.fine_tune_steps,
            unsafe=args.unsafe,
            verbose=args.verbose,
        )
    print_summary(args.run_dir)
    return 0


def _prune_with_analysis(args, overrides):
    from keras_snp.pruning.scopes import DEFAULT_THETAS
    from keras_snp.pruning.scopes import LAYER_SCOPES
    from keras_snp.run.prune_run import prune_run

    prune_run(
        args.run_dir,
        scope=args.prune_scope,
        **overrides,
        fine_tune_steps=args.fine_tune_steps,
        structured_fraction=args.structured,
        sweep=args.sweep,
        sweep_scopes=args.sweep_scopes or list(LAYER_SCOPES),
        thetas=args.thetas or DEFAULT_THETAS,
    )
