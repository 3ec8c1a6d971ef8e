"""`keras-snp train` (`scripts/train.py`): the whole pipeline."""

import argparse

from keras_snp.cli.common import add_common_options
from keras_snp.cli.common import setup_logging
from keras_snp.run.config import STAGES
from keras_snp.run.config import RunConfig


def train_parser():
    parser = argparse.ArgumentParser(
        prog="train.py",
        description="Train a CCT, measure SNP, report head experts, prune "
                    "with ANDC and export; every stage lands in "
                    "OUTPUT_DIR/RUN_NAME.",
    )
    add_common_options(parser)
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


def config_from_args(args):
    """The `RunConfig` of parsed flags (flags map to fields one to one)."""
    fields = RunConfig.__dataclass_fields__
    values = {k: v for k, v in vars(args).items() if k in fields}
    values["stages"] = tuple(values.get("stages", STAGES))
    if values.get("taps"):
        values["taps"] = tuple(values["taps"])
    return RunConfig(**values)


def train_main(argv=None):
    parser = train_parser()
    args = parser.parse_args(argv)
    setup_logging(args.verbose)
    from keras_snp.run import pipeline

    config = config_from_args(args)
    folder = pipeline.run(config, resume=args.resume, redo=tuple(args.redo))
    print(f"run folder: {folder.path}")
    return 0
