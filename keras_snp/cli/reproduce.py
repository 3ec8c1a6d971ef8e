"""`keras-snp reproduce` (`scripts/reproduce.py`): the whole pipeline,
then REPORT.md with the paper's four claims."""

import os
import shlex
import sys

from keras_snp.cli.common import DATASET_HELP
from keras_snp.cli.common import Parser
from keras_snp.cli.common import add_analyse_anyway_option
from keras_snp.cli.common import add_data_options
from keras_snp.cli.common import add_fine_tune_option
from keras_snp.cli.common import add_quiet_option
from keras_snp.cli.common import add_run_folder_options
from keras_snp.cli.common import add_snp_options
from keras_snp.cli.common import check_data
from keras_snp.cli.common import check_writable
from keras_snp.cli.common import non_negative_int
from keras_snp.cli.common import positive_float
from keras_snp.cli.common import positive_int
from keras_snp.cli.common import start
from keras_snp.reproduce.runner import CNN_VARIANT
from keras_snp.reproduce.runner import DEFAULT_EPOCHS
from keras_snp.reproduce.runner import DEFAULT_RECIPE
from keras_snp.reproduce.runner import DEFAULT_VARIANT
from keras_snp.run.summary import print_summary
from keras_snp.utils import UsageError


def reproduce_parser():
    parser = Parser(
        "reproduce",
        description="Test the paper's four claims on one dataset: train a "
        "CCT (or a small CNN), SNP, head experts, ANDC pruning "
        "with controls, then OUTPUT_DIR/RUN_NAME/REPORT.md.",
    )
    add_data_options(parser)
    for action in parser._actions:
        if action.dest == "dataset":
            action.help = DATASET_HELP + " (e.g. data/cifar100.npz)"
        if action.dest == "image_size":
            action.help = (
                "input side in pixels (default: 32 for .npz / "
                "cifar100, else the dataset's)"
            )
    parser.add_argument(
        "--model",
        choices=("cct", "cnn"),
        default="cct",
        help="the network: a CCT, or the small VGG-style CNN to compare with",
    )
    parser.add_argument(
        "--variant",
        default=None,
        metavar="NAME",
        help=f"CCT variant (default: {DEFAULT_VARIANT}); "
        "ignored for --model cnn",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        default=DEFAULT_EPOCHS,
        metavar="N",
        help="training epochs",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="global batch (default: per dataset)",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=positive_int,
        metavar="N",
        help="cap the training steps of an epoch (smoke "
        "tests; default: the whole split)",
    )
    parser.add_argument(
        "--recipe",
        choices=("official", "light", "none"),
        default=DEFAULT_RECIPE,
        help="light (flip + crop): MixUp/CutMix of the "
        "official recipe slow short runs down",
    )
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        metavar="LR",
        help="peak learning rate (default: per dataset)",
    )
    parser.add_argument(
        "--warmup-epochs",
        type=non_negative_int,
        metavar="N",
        help="linear warm-up epochs (default: per dataset)",
    )
    add_snp_options(parser)
    # Claim 1's interval holds the readouts' own variance (issue: sound
    # statistics): three readout seeds unless told otherwise.
    parser.set_defaults(readout_seeds=3)
    add_fine_tune_option(parser)
    add_analyse_anyway_option(parser)
    parser.add_argument(
        "--bootstrap",
        type=positive_int,
        default=1000,
        metavar="N",
        help="bootstrap resamples of every CI",
    )
    add_run_folder_options(parser)
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue RUN_NAME (start it when absent); "
        "with every stage done, rewrite the report",
    )
    parser.add_argument(
        "--compare",
        default=None,
        metavar="RUN_DIR",
        help="another reproduce run (e.g. the CNN) to set "
        "beside this one in the report",
    )
    parser.add_argument(
        "--publish",
        default=None,
        metavar="PATH.md",
        help="also copy REPORT.md to PATH.md and its "
        "figures into PATH/ (e.g. docs/results/"
        "cifar100-cct_2_3x2.md)",
    )
    add_quiet_option(parser)
    return parser


def command_line(argv):
    """The command that reproduces the run (without `--resume`)."""
    args = [a for a in argv if a != "--resume"]
    return "python scripts/reproduce.py " + " ".join(
        shlex.quote(a) for a in args
    )


def make_config(args):
    """The `RunConfig` of parsed `reproduce.py` flags."""
    from keras_snp.cli.train import config_from_args

    image_size = args.image_size
    if image_size is None and (
        args.dataset == "cifar100" or args.dataset.endswith(".npz")
    ):
        image_size = 32
    if args.model == "cnn":
        variant = CNN_VARIANT
        stages = ("train", "snp")  # heads and ANDC are CCT-only
    else:
        variant = args.variant or DEFAULT_VARIANT
        stages = ("train", "export", "snp", "heads", "control", "prune")
    return config_from_args(
        args, variant=variant, image_size=image_size, stages=stages
    )


def reproduce_main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = reproduce_parser().parse_args(argv)
    if args.publish and not args.publish.endswith(".md"):
        raise UsageError(
            f"--publish must end in .md, got {args.publish!r}: e.g. "
            "docs/results/cifar100-cct_2_3x2.md."
        )
    if args.compare and not os.path.isfile(
        os.path.join(args.compare, "run.json")
    ):
        raise UsageError(
            f"--compare {args.compare}: no run.json there; give the folder "
            "of a finished reproduce.py run."
        )
    check_data(args)
    config = make_config(args)
    from keras_snp.cli.train import check_config
    from keras_snp.cli.train import check_run_folder

    # --resume starts a run that is not there yet.
    resume = (
        args.resume
        and config.run_name is not None
        and os.path.isfile(
            os.path.join(config.output_dir, config.run_name, "run.json")
        )
    )
    if args.model == "cct":
        config = check_config(config, resume=resume)
    else:
        check_run_folder(config, resume)
    check_writable(config.output_dir)
    start(args.verbose)
    from keras_snp.reproduce.runner import reproduce

    path = reproduce(
        config,
        model=args.model,
        resume=args.resume,
        command=command_line(argv),
        compare=args.compare,
        bootstrap=args.bootstrap,
        publish=args.publish,
    )
    print_summary(os.path.dirname(path))
    print(f"report: {path}")
    return 0
