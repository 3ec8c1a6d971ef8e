"""What every `keras-snp` command shares: dataset and SNP options,
logging, and the guard that turns a `UsageError` into one line."""

import logging
import os
import sys

from keras_snp.utils import UsageError

DATASET_HELP = (
    "cifar100 | flowers102 (tfds oxford_flowers102) | synthetic (offline) | "
    "a folder with train/ (optional val/, test/), one sub-folder per class "
    "| an .npz with x_train y_train x_test y_test (optional label_names)"
)


def add_common_options(parser):
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



def setup_logging(verbose):
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s", stream=sys.stderr,
    )
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def guarded(function, argv):
    """Runs a command; a `UsageError` becomes one line and exit status 2."""
    try:
        return function(argv)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
