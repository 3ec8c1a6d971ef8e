"""`keras-snp reproduce` (`scripts/reproduce.py`): the whole pipeline,
then REPORT.md with the paper's four claims."""

import argparse
import os
import shlex
import sys

from keras_snp.cli.common import setup_logging
from keras_snp.reproduce.runner import CNN_VARIANT
from keras_snp.reproduce.runner import DEFAULT_EPOCHS
from keras_snp.reproduce.runner import DEFAULT_NULL_SAMPLES
from keras_snp.reproduce.runner import DEFAULT_RECIPE
from keras_snp.reproduce.runner import DEFAULT_SNP_EPOCHS
from keras_snp.reproduce.runner import DEFAULT_VARIANT
from keras_snp.reproduce.runner import reproduce
from keras_snp.utils import UsageError


def reproduce_parser():
    parser = argparse.ArgumentParser(
        prog="reproduce.py",
        description="Test the paper's four claims on one dataset: train a "
                    "CCT (or a small CNN), SNP, head experts, ANDC pruning "
                    "with controls, then OUTPUT_DIR/RUN_NAME/REPORT.md.",
    )
    parser.add_argument("--dataset", default="synthetic",
                        help="cifar100 | flowers102 | synthetic | a folder "
                             "| an .npz (e.g. ../shared/data/cifar100/"
                             "cifar100.npz)")
    parser.add_argument("--model", choices=("cct", "cnn"), default="cct")
    parser.add_argument("--variant", default=None,
                        help=f"CCT variant (default {DEFAULT_VARIANT}); "
                             "ignored for --model cnn")
    parser.add_argument("--image-size", type=int, default=None,
                        help="input side (default: 32 for .npz / cifar100, "
                             "else the dataset's)")
    parser.add_argument("--epochs", type=int, default=DEFAULT_EPOCHS)
    parser.add_argument("--batch-size", type=int, default=None)
    parser.add_argument("--steps-per-epoch", type=int, default=None,
                        help="cap the training steps of an epoch (smoke "
                             "tests)")
    parser.add_argument("--recipe", choices=("official", "light", "none"),
                        default=DEFAULT_RECIPE,
                        help="light (flip + crop) by default: MixUp/CutMix "
                             "of the official recipe slow short runs down")
    parser.add_argument("--learning-rate", type=float, default=None)
    parser.add_argument("--warmup-epochs", type=int, default=None)
    parser.add_argument("--snp-epochs", type=int, default=DEFAULT_SNP_EPOCHS,
                        help="readout epochs (flattened readouts)")
    parser.add_argument("--readout", choices=("flatten", "pooled"),
                        default="flatten")
    parser.add_argument("--theta", type=float, default=0.3)
    parser.add_argument("--null-samples", type=int,
                        default=DEFAULT_NULL_SAMPLES)
    parser.add_argument("--fine-tune-epochs", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=1000,
                        help="bootstrap resamples of every CI")
    parser.add_argument("--num-classes", type=int, default=None)
    parser.add_argument("--examples-per-class", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output-dir", default="saved_models")
    parser.add_argument("--run-name", default=None)
    parser.add_argument("--resume", action="store_true",
                        help="continue RUN_NAME (start it when absent); "
                             "with every stage done, rewrite the report")
    parser.add_argument("--compare", default=None, metavar="RUN_DIR",
                        help="another reproduce run (e.g. the CNN) to set "
                             "beside this one in the report")
    parser.add_argument("--publish", default=None, metavar="PATH.md",
                        help="also copy REPORT.md to PATH.md and its "
                             "figures into PATH/ (e.g. docs/results/"
                             "cifar100-cct_2_3x2.md)")
    parser.add_argument("--quiet", dest="verbose", action="store_const",
                        const=0, default=1)
    return parser


def command_line(argv):
    """The command that reproduces the run (without `--resume`)."""
    args = [a for a in argv if a != "--resume"]
    return "python scripts/reproduce.py " + " ".join(
        shlex.quote(a) for a in args)


def make_config(args):
    """The `RunConfig` of parsed `reproduce.py` flags."""
    from keras_snp.run.config import RunConfig

    image_size = args.image_size
    if image_size is None and (args.dataset == "cifar100"
                               or args.dataset.endswith(".npz")):
        image_size = 32
    if args.model == "cnn":
        variant = CNN_VARIANT
        stages = ("train", "snp")  # heads and ANDC are CCT-only
    else:
        variant = args.variant or DEFAULT_VARIANT
        stages = ("train", "export", "snp", "heads", "prune")
    return RunConfig(
        dataset=args.dataset, variant=variant, image_size=image_size,
        epochs=args.epochs, batch_size=args.batch_size,
        output_dir=args.output_dir, run_name=args.run_name, seed=args.seed,
        recipe=args.recipe, learning_rate=args.learning_rate,
        warmup_epochs=args.warmup_epochs, num_classes=args.num_classes,
        examples_per_class=args.examples_per_class,
        steps_per_epoch=args.steps_per_epoch, stages=stages,
        theta=args.theta, readout=args.readout, snp_epochs=args.snp_epochs,
        null_samples=args.null_samples,
        fine_tune_epochs=args.fine_tune_epochs, verbose=args.verbose,
    )


def reproduce_main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    args = reproduce_parser().parse_args(argv)
    if args.publish and not args.publish.endswith(".md"):
        raise UsageError(
            f"--publish must end in .md, got {args.publish!r}: e.g. "
            "docs/results/cifar100-cct_2_3x2.md."
        )
    setup_logging(args.verbose)
    if args.compare and not os.path.isfile(
            os.path.join(args.compare, "run.json")):
        raise UsageError(
            f"--compare {args.compare}: no run.json there; give the folder "
            "of a finished reproduce.py run."
        )
    path = reproduce(make_config(args), model=args.model,
                     resume=args.resume, command=command_line(argv),
                     compare=args.compare, bootstrap=args.bootstrap,
                     publish=args.publish)
    print(f"report: {path}")
    return 0
