"""Command line: `keras-snp train|analyze|prune|reproduce` (and
`scripts/*.py`).

Every flag maps to a `RunConfig` field. Bad input ends with one line on
stderr and exit status 2.
"""

import argparse
import logging
import os
import sys

from keras_snp.run.config import STAGES
from keras_snp.run.config import RunConfig
from keras_snp.utils import UsageError

DATASET_HELP = (
    "cifar100 | flowers102 (tfds oxford_flowers102) | synthetic (offline) | "
    "a folder with train/ (optional val/, test/), one sub-folder per class "
    "| an .npz with x_train y_train x_test y_test (optional label_names)"
)


def _add_common(parser):
    parser.add_argument("--dataset", default="synthetic", help=DATASET_HELP)
    parser.add_argument("--image-size", type=int,
                        help="input side in pixels (default: per dataset)")
    parser.add_argument("--data-dir", help="tensorflow-datasets data_dir")
    parser.add_argument("--no-download", dest="download",
                        action="store_false",
                        help="never download: fail at once when the tfds "
                             "data is not prepared")
    parser.add_argument("--num-classes", type=int,
                        help="classes of the synthetic dataset")
    parser.add_argument("--examples-per-class", type=int,
                        help="training images per class (synthetic)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--theta", type=float, default=0.3,
                        help="SNP threshold on the normalised matrix, (0, 1)")
    parser.add_argument("--readout", choices=("flatten", "pooled"),
                        default="flatten",
                        help="SNP readout: on the flattened tap (default) "
                             "or mean over tokens (cheap)")
    parser.add_argument("--readout-epochs", "--snp-epochs", type=int,
                        default=3, dest="snp_epochs",
                        help="epochs of readout training per SNP pass")
    parser.add_argument("--save-readouts", action="store_true",
                        help="also store readout weights T.W in snp.npz")
    parser.add_argument("--null-samples", type=int, default=100,
                        help="shuffles of the head null model")
    parser.add_argument("--no-ablation", dest="ablation",
                        action="store_false",
                        help="skip the head-silencing causal check")
    parser.add_argument("--quiet", dest="verbose", action="store_const",
                        const=0, default=1)


def train_parser():
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train a CCT, measure SNP, report head experts, prune "
                    "with ANDC and export; every stage lands in "
                    "OUTPUT_DIR/RUN_NAME.",
    )
    _add_common(parser)
    parser.add_argument("--variant",
                        help="CCT variant, e.g. cct_7_3x1 (default: per "
                             "dataset; see keras_snp.list_variants())")
    parser.add_argument("--epochs", type=int,
                        help="training epochs (default: per dataset, 300 "
                             "for cifar100 / flowers102 as the official "
                             "recipe)")
    parser.add_argument("--batch-size", type=int,
                        help="global batch (split over replicas; default "
                             "per dataset)")
    parser.add_argument("--steps-per-epoch", type=int,
                        help="cap the steps of an epoch (quick runs)")
    parser.add_argument("--output-dir", default="saved_models")
    parser.add_argument("--run-name",
                        help="run folder name (default: dataset-variant-time)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run folder RUN_NAME")
    parser.add_argument("--redo", nargs="*", default=(), choices=STAGES,
                        help="stages to run again on --resume")
    parser.add_argument("--strategy", default="auto",
                        choices=("auto", "mirrored", "multi_worker",
                                 "one_device", "data_parallel"),
                        help="auto: MirroredStrategy over all GPUs (TF) or "
                             "DataParallel (JAX)")
    parser.add_argument("--cpu-replicas", type=int,
                        help="split the CPU into N logical devices (TF)")
    parser.add_argument("--precision", default="auto",
                        help="auto (mixed on GPU) | float32 | mixed_float16 "
                             "| mixed_bfloat16")
    parser.add_argument("--recipe", choices=("official", "light", "none"),
                        help="augmentation + loss recipe (default: official "
                             "for real datasets, light for synthetic)")
    parser.add_argument("--learning-rate", type=float)
    parser.add_argument("--weight-decay", type=float)
    parser.add_argument("--warmup-epochs", type=int,
                        help="linear warm-up (default: per dataset)")
    parser.add_argument("--positional-embedding", default="learnable",
                        choices=("learnable", "sine", "none"))
    parser.add_argument("--stages", nargs="+", default=list(STAGES),
                        choices=STAGES, help="stages to run, in order")
    parser.add_argument("--snp-every", type=int,
                        help="also measure SNP during training every N "
                             "epochs (SNPCallback, logs/snp)")
    parser.add_argument("--taps", nargs="+",
                        help="SNP layer names (default: every encoder's "
                             "mha, ff_hidden and out)")
    parser.add_argument("--prune-scope", default="all",
                        choices=("readout", "internal", "all"))
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    return parser


def _config_from(args, parser):
    fields = RunConfig.__dataclass_fields__
    values = {k: v for k, v in vars(args).items() if k in fields}
    values["stages"] = tuple(values.get("stages", STAGES))
    if values.get("taps"):
        values["taps"] = tuple(values["taps"])
    return RunConfig(**values)


def _setup_logging(verbose):
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s", stream=sys.stderr,
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def train_main(argv=None):
    parser = train_parser()
    args = parser.parse_args(argv)
    _setup_logging(args.verbose)
    from keras_snp.run import pipeline

    config = _config_from(args, parser)
    folder = pipeline.run(config, resume=args.resume, redo=tuple(args.redo))
    print(f"run folder: {folder.path}")
    return 0


def main(argv=None):
    """`keras-snp train|analyze|prune ...`; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = {"train": train_main, "reproduce": _reproduce_main}
    for name in ("analyze", "prune"):
        commands[name] = _lazy(name)
    if not argv or argv[0] not in commands:
        print(f"usage: keras-snp {{{','.join(commands)}}} ...",
              file=sys.stderr)
        return 2
    return guarded(commands[argv[0]], argv[1:])


def _reproduce_main(argv):
    from keras_snp.reproduce import runner

    return runner.main(argv)


def _lazy(name):
    def command(argv):
        from keras_snp import cli_stages

        return getattr(cli_stages, f"{name}_main")(argv)

    return command


def guarded(function, argv):
    """Runs a command; a `UsageError` becomes one line and exit status 2."""
    try:
        return function(argv)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
