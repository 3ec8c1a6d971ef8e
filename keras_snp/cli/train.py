"""`keras-snp train` (`scripts/train.py`): the whole pipeline."""

import os

from keras_snp.cli.common import SCOPE_HELP
from keras_snp.cli.common import Parser
from keras_snp.cli.common import add_alias
from keras_snp.cli.common import add_analyse_anyway_option
from keras_snp.cli.common import add_common_options
from keras_snp.cli.common import add_fine_tune_option
from keras_snp.cli.common import add_run_folder_options
from keras_snp.cli.common import check_data
from keras_snp.cli.common import check_variant
from keras_snp.cli.common import check_writable
from keras_snp.cli.common import non_negative_int
from keras_snp.cli.common import positive_float
from keras_snp.cli.common import positive_int
from keras_snp.cli.common import scope
from keras_snp.cli.common import start
from keras_snp.run.config import DEFAULT_STAGES
from keras_snp.run.config import STAGES
from keras_snp.run.config import RunConfig
from keras_snp.run.summary import print_summary
from keras_snp.settings import PruneSettings
from keras_snp.utils import UsageError

STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device", "data_parallel")
PRECISIONS = ("auto", "float32", "mixed_float16", "mixed_bfloat16")


def train_parser():
    parser = Parser(
        "train",
        description="Train a CCT, measure SNP, report head experts, prune "
        "with ANDC and export; every stage lands in "
        "OUTPUT_DIR/RUN_NAME.",
        epilog="A first look (a minute on a laptop): --dataset synthetic "
        "--variant cct_2_3x2 --epochs 1 --limit 20",
    )
    add_common_options(parser)
    parser.add_argument(
        "--variant",
        metavar="NAME",
        help="CCT variant: cct_2_3x2, cct_4_3x2, cct_6_3x1, "
        "cct_6_3x2, cct_7_3x1, cct_7_3x2, cct_7_7x2, "
        "cct_14_7x2 (default: per dataset, cct_7_3x1 "
        "at 32 px, cct_7_7x2 at 224 px)",
    )
    parser.add_argument(
        "--epochs",
        type=positive_int,
        metavar="N",
        help="epochs of the cosine schedule (default: per dataset, 300 "
        "for cifar100 / flowers102 as the official recipe, which then "
        "trains 10 cool-down epochs at the floor learning rate: 310; "
        "a run shorter than 300 cools down for a thirtieth of it)",
    )
    parser.add_argument(
        "--batch-size",
        type=positive_int,
        metavar="N",
        help="global batch, split over replicas (default: "
        "per dataset, 128 for cifar100)",
    )
    parser.add_argument(
        "--steps-per-epoch",
        type=positive_int,
        metavar="N",
        help="cap the training steps of an epoch (quick "
        "runs; default: the whole training split)",
    )
    add_run_folder_options(parser)
    parser.add_argument(
        "--resume", action="store_true", help="continue the run folder RUN_NAME"
    )
    parser.add_argument(
        "--redo",
        nargs="*",
        default=(),
        choices=STAGES,
        metavar="STAGE",
        help="stages to run again on --resume: " + ", ".join(STAGES),
    )
    parser.add_argument(
        "--strategy",
        default=RunConfig.strategy,
        choices=STRATEGIES,
        help="auto: MirroredStrategy over all GPUs (TF) or DataParallel (JAX)",
    )
    parser.add_argument(
        "--cpu-replicas",
        type=positive_int,
        metavar="N",
        help="split the CPU into N logical devices (TF; default: one)",
    )
    parser.add_argument(
        "--precision",
        default=RunConfig.precision,
        choices=PRECISIONS,
        help="auto: mixed_float16 on GPU, float32 on CPU",
    )
    parser.add_argument(
        "--recipe",
        choices=("official", "light", "none"),
        help="augmentation + loss recipe (default: official "
        "for real datasets, light for synthetic)",
    )
    parser.add_argument(
        "--learning-rate",
        type=positive_float,
        metavar="LR",
        help="peak learning rate (default: per dataset, 6e-4 for cifar100)",
    )
    parser.add_argument(
        "--weight-decay",
        type=float,
        metavar="WD",
        help="AdamW weight decay (default: per dataset, 0.06 for cifar100)",
    )
    parser.add_argument(
        "--warmup-epochs",
        type=non_negative_int,
        metavar="N",
        help="linear warm-up epochs (default: per dataset)",
    )
    parser.add_argument(
        "--positional-embedding",
        default=RunConfig.positional_embedding,
        choices=("learnable", "sine", "none"),
        help="the CCT's token position embedding",
    )
    parser.add_argument(
        "--stages",
        nargs="+",
        default=list(RunConfig.stages),
        choices=STAGES,
        metavar="STAGE",
        help="stages to run, in order: " + ", ".join(STAGES),
    )
    parser.add_argument(
        "--snp-every",
        type=positive_int,
        metavar="N",
        help="also measure SNP during training every N "
        "epochs (logs/snp; default: never)",
    )
    parser.add_argument(
        "--taps",
        nargs="+",
        metavar="LAYER",
        help="SNP layer names (default: every encoder's "
        "mha, ff_hidden and out)",
    )
    parser.add_argument(
        "--scope",
        default=PruneSettings.scope,
        type=scope,
        dest="prune_scope",
        metavar="SCOPE",
        help=SCOPE_HELP,
    )
    add_alias(parser, "--prune-scope", "prune_scope", type=scope)
    add_fine_tune_option(parser)
    add_analyse_anyway_option(parser)
    return parser


def config_from_args(args, **fields_set):
    """The `RunConfig` of parsed flags (flags map to fields one to one),
    with `fields_set` where a command sets a field itself."""
    fields = RunConfig.__dataclass_fields__
    values = {k: v for k, v in vars(args).items() if k in fields}
    values.update(fields_set)
    values["stages"] = tuple(values.get("stages", DEFAULT_STAGES))
    if values.get("taps"):
        values["taps"] = tuple(values["taps"])
    return RunConfig(**values)


def check_run_folder(config, resume):
    """The run-name collision (or a missing run to resume), before any
    work: the same words as `RunFolder.create`, which checks again."""
    if config.run_name is None:
        return
    path = os.path.join(config.output_dir, config.run_name)
    if resume and not os.path.isfile(os.path.join(path, "run.json")):
        raise UsageError(
            f"--resume: no run at {path} (no run.json): drop "
            "--resume to start it, or check --run-name."
        )
    if not resume and os.path.exists(path):
        raise UsageError(
            f"Run folder {path} already exists: pass --resume "
            "to continue it, or choose another --run-name."
        )


def check_config(config, resume=False):
    """Every check that needs no TensorFlow and reads no image: the
    dataset, the variant and image size (with the dataset's defaults),
    the run folder. Returns the config with the dataset's defaults."""
    from keras_snp.run.resolve import resolve_config

    config = resolve_config(config, check_variant=False)
    check_variant(config.variant, config.image_size)
    check_run_folder(config, resume)
    return config


def train_main(argv=None):
    parser = train_parser()
    args = parser.parse_args(argv)
    if args.redo and not args.resume:
        raise UsageError(
            "--redo needs --resume (it re-runs stages of an existing run)."
        )
    check_data(args)
    config = check_config(config_from_args(args), resume=args.resume)
    check_writable(config.output_dir)
    start(args.verbose)
    from keras_snp.run import pipeline

    folder = pipeline.run(config, resume=args.resume, redo=tuple(args.redo))
    print_summary(folder.path)
    return 0
