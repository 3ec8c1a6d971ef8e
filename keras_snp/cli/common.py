"""What every `keras-snp` command shares: the parser, dataset and SNP
options, the checks that run before TensorFlow starts, logging, and the
guard that turns a `UsageError` into one line.

Nothing here imports Keras or TensorFlow: `--help` and every usage error
answer in well under a second. A flag's default is never written here: it
is read from `RunConfig` or from the stage's dataclass in
`keras_snp.settings` (`tests/cli/defaults_test.py` holds them equal).
"""

import argparse
import errno
import logging
import os
import signal
import sys
import threading

from keras_snp.cli.flags import with_flags
from keras_snp.run.config import RunConfig
from keras_snp.settings import READOUTS
from keras_snp.settings import SOLVERS
from keras_snp.settings import HeadsSettings
from keras_snp.settings import ReadoutConfig
from keras_snp.utils import UsageError

DATASET_HELP = (
    "cifar100 | flowers102 (tfds oxford_flowers102) | synthetic (offline) | "
    "a folder with train/ (optional val/, test/), one sub-folder per class "
    "| an .npz with x_train y_train x_test y_test (optional label_names)"
)
SCOPE_HELP = (
    "ANDC pruning scope: readout (classifier), ff (the feed-forward Dense "
    "layers), attn_proj (attention output projections), all (the three), "
    "or a combination such as readout+ff"
)
# "keras-snp" when run through `keras-snp` (set by `keras_snp.cli.main`).
PROGRAM = None


class HelpFormatter(argparse.HelpFormatter):
    """Shows every flag's default, unless it is empty, a switch's, or
    already said in the help text."""

    def _get_help_string(self, action):
        text = action.help or ""
        default = action.default
        if (
            "default" in text
            or default is None
            or default is False
            or default in ((), [])
            or default is argparse.SUPPRESS
            or not action.option_strings
            or action.nargs == 0
        ):
            return text
        if isinstance(default, (list, tuple)):
            default = " ".join(map(str, default))
        return f"{text} (default: {default})"


class Parser(argparse.ArgumentParser):
    """An `ArgumentParser` whose errors are one line: `error: ...`."""

    def __init__(self, prog, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(prog=program_name(prog), **kwargs)

    def error(self, message):
        raise UsageError(f"{message} (see {self.prog} --help)")


def program_name(command):
    """`keras-snp COMMAND` when run through `keras-snp`, else the
    script's name (`train.py`)."""
    if PROGRAM:
        return f"{PROGRAM} {command}"
    return f"{command}.py"


def positive_int(text):
    return _number(text, int, 1)


def non_negative_int(text):
    return _number(text, int, 0)


def positive_float(text):
    value = _number(text, float, None)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def fraction(text):
    """A number strictly between 0 and 1 (`--theta`)."""
    value = _number(text, float, None)
    if not 0 < value < 1:
        raise argparse.ArgumentTypeError(
            f"must be between 0 and 1 (exclusive), got {text}; try 0.3"
        )
    return value


def _number(text, kind, minimum):
    try:
        value = kind(text)
    except ValueError:
        word = "a whole number" if kind is int else "a number"
        raise argparse.ArgumentTypeError(
            f"must be {word}, got {text!r}"
        ) from None
    if minimum is not None and value < minimum:
        raise argparse.ArgumentTypeError(
            f"must be {minimum} or more, got {text}"
        )
    return value


def scope(text):
    """argparse type of `--scope`: its canonical name."""
    from keras_snp.pruning.scopes import scope_name

    try:
        return scope_name(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"unknown scope {text!r}: use readout, ff, attn_proj, all, or a "
            "combination such as readout+ff"
        ) from None


def add_alias(parser, flag, dest, **kwargs):
    """A hidden old name of a flag (kept so old commands still run)."""
    parser.add_argument(
        flag,
        dest=dest,
        help=argparse.SUPPRESS,
        default=argparse.SUPPRESS,
        **kwargs,
    )


def add_data_options(parser, dataset_default=RunConfig.dataset):
    """The dataset flags every command that reads data shares."""
    group = parser.add_argument_group("data")
    group.add_argument("--dataset", default=dataset_default, help=DATASET_HELP)
    group.add_argument(
        "--image-size",
        type=positive_int,
        metavar="PX",
        help="input side in pixels (default: per dataset: "
        "32 for cifar100 / synthetic, 224 for "
        "flowers102 and folders)",
    )
    group.add_argument(
        "--data-dir",
        metavar="DIR",
        help="tensorflow-datasets folder for cifar100 / "
        "flowers102, e.g. a copy prepared on a "
        "machine with network (default: "
        "$TFDS_DATA_DIR or ~/tensorflow_datasets)",
    )
    group.add_argument(
        "--no-download",
        dest="download",
        action="store_false",
        help="never download: fail at once when the tfds "
        "data is not prepared in --data-dir",
    )
    group.add_argument(
        "--label-names",
        metavar="FILE",
        help="class names for a folder or an .npz: a JSON "
        "list, a JSON object with one list (FILE#KEY picks one of "
        "several), or one name per line",
    )
    group.add_argument(
        "--num-classes",
        type=positive_int,
        metavar="K",
        help="classes of the synthetic dataset (default: 10); of an .npz "
        "whose labels go beyond those of its train split (default: the "
        "train split's)",
    )
    group.add_argument(
        "--limit",
        type=positive_int,
        dest="examples_per_class",
        metavar="N",
        help="keep N training images per class of any "
        "dataset, for a quick look (synthetic: "
        "images generated per class; default: all)",
    )
    group.add_argument(
        "--allow-empty-classes",
        action="store_true",
        help="accept classes with no training image",
    )
    group.add_argument(
        "--test-split",
        choices=("train", "validation"),
        help="a folder without test/: score on a seeded 10%% of train "
        "held out as test (train), or on the validation split, which "
        "then also chooses the pruning masks (validation); refused "
        "otherwise",
    )
    group.add_argument(
        "--seed",
        type=int,
        default=RunConfig.seed,
        help="seed of data order, augmentation and weights",
    )
    add_alias(
        group, "--examples-per-class", "examples_per_class", type=positive_int
    )


def add_fine_tune_option(
    parser, default_help="a tenth of --epochs, at least 1"
):
    """`--fine-tune-epochs`: the recipe fine-tune of every pruned row."""
    parser.add_argument(
        "--fine-tune-epochs",
        type=non_negative_int,
        metavar="N",
        help="epochs of the recipe fine-tune given to every pruned row and "
        f"to the unpruned control (default: {default_help})",
    )


def add_analyse_anyway_option(parser):
    """`--analyse-anyway`: SNP, heads and pruning of a model that did not
    learn (see `keras_snp.run.learned`)."""
    parser.add_argument(
        "--analyse-anyway",
        action="store_true",
        help="run SNP, heads and pruning even when the model did not learn "
        "(validation accuracy within chance, or the loss rose); every "
        "report then says so at the top",
    )


def add_run_folder_options(parser):
    """Where the run folder goes: `--output-dir`, `--run-name`."""
    parser.add_argument(
        "--output-dir",
        default=RunConfig.output_dir,
        metavar="DIR",
        help="where run folders are made",
    )
    parser.add_argument(
        "--run-name",
        metavar="NAME",
        help="run folder name (default: dataset-variant-date-time)",
    )


def add_snp_options(parser):
    """The SNP and head-report flags; their defaults are `ReadoutConfig`'s
    and `HeadsSettings`'s."""
    group = parser.add_argument_group("SNP and head reports")
    group.add_argument(
        "--theta",
        type=fraction,
        default=RunConfig.theta,
        help="SNP threshold on the normalised matrix, between 0 and 1",
    )
    group.add_argument(
        "--readout",
        choices=READOUTS,
        default=ReadoutConfig.readout,
        help="SNP readout: on the flattened tap, or on its "
        "mean over tokens (cheap)",
    )
    group.add_argument(
        "--readout-solver",
        choices=SOLVERS,
        default=ReadoutConfig.solver,
        help="stream: the expectation over the augmentation by steps on "
        "fresh views, convergence on a held-out view (METHOD.md); lbfgs: "
        "each readout solved to the optimum of the mean over "
        "--readout-views cached views, convergence measured; lab: the "
        "lab's streaming SGD for --readout-epochs epochs",
    )
    group.add_argument(
        "--readout-views",
        type=positive_int,
        default=ReadoutConfig.views,
        metavar="N",
        help="augmented views of the training split cached for lbfgs",
    )
    group.add_argument(
        "--readout-stream-views",
        type=positive_int,
        default=ReadoutConfig.stream_views,
        metavar="N",
        help="most fresh views (frozen forward passes) stream takes per "
        "readout before it is reported not converged",
    )
    group.add_argument(
        "--readout-tolerance",
        type=fraction,
        default=ReadoutConfig.tolerance,
        metavar="TOL",
        help="lbfgs is converged when the whitened gradient norm falls to "
        "TOL times its value at zero weights",
    )
    group.add_argument(
        "--readout-max-passes",
        type=positive_int,
        default=ReadoutConfig.max_passes,
        metavar="N",
        help="cap on solver passes per readout, lbfgs or stream (a low cap "
        "is a quick look; the summary then says 'not converged')",
    )
    group.add_argument(
        "--readout-epochs",
        type=positive_int,
        default=ReadoutConfig.epochs,
        dest="snp_epochs",
        metavar="N",
        help="epochs of the lab solver's SGD (--readout-solver lab)",
    )
    add_alias(group, "--snp-epochs", "snp_epochs", type=positive_int)
    group.add_argument(
        "--readout-seeds",
        type=positive_int,
        default=RunConfig.readout_seeds,
        metavar="N",
        help="solve the readouts N times with augmentation seeds seed, "
        "seed+1, ... (snp/readout_seeds.json): the spread of their test "
        "accuracies enters the reproduction's claim-1 interval",
    )
    group.add_argument(
        "--save-readouts",
        action="store_true",
        help="also store the readout weights T.W in snp/snp.npz",
    )
    group.add_argument(
        "--null-samples",
        type=positive_int,
        default=HeadsSettings.null_samples,
        metavar="N",
        help="label shuffles of the head null model",
    )
    group.add_argument(
        "--no-ablation",
        dest="ablation",
        action="store_false",
        default=HeadsSettings.ablation,
        help="skip the head-silencing causal check",
    )


def add_quiet_option(parser):
    parser.add_argument(
        "--quiet",
        dest="verbose",
        action="store_const",
        const=0,
        default=RunConfig.verbose,
        help="print only warnings, errors and the results",
    )


def add_common_options(parser):
    """Dataset, SNP and `--quiet` flags (train and analyze)."""
    add_data_options(parser)
    add_snp_options(parser)
    add_quiet_option(parser)


def check_variant(variant, image_size):
    """`--variant` and `--image-size` in user words, without Keras."""
    from keras_snp.models.variants import VARIANTS
    from keras_snp.models.variants import min_image_size

    if variant not in VARIANTS:
        raise UsageError(
            f"Unknown CCT variant {variant!r}: choose --variant among "
            f"{', '.join(VARIANTS)}."
        )
    smallest = min_image_size(VARIANTS[variant])
    if image_size is not None and image_size < smallest:
        raise UsageError(
            f"--image-size {image_size} is too small for {variant}: its "
            f"tokenizer needs --image-size {smallest} or more."
        )


def check_data(args):
    """The dataset flags: the source exists and reads, label names file;
    an `.npz`'s labels (read without its images).

    Returns the label names read from `--label-names` (or None)."""
    from keras_snp.data.arrays import check_npz_labels
    from keras_snp.data.sources import check_source
    from keras_snp.data.sources import read_label_names

    names = None
    if getattr(args, "label_names", None):
        names = read_label_names(args.label_names)
    try:
        kind = check_source(
            args.dataset, names, data_dir=args.data_dir, download=args.download
        )
    except UsageError as error:
        text = str(error)
        if text.startswith("Label names are"):
            text = "--label-names " + text[0].lower() + text[1:]
        raise UsageError(text) from None
    if kind == "npz":
        check_npz_labels(
            args.dataset,
            num_classes=getattr(args, "num_classes", None),
            label_names=names,
            allow_empty_classes=getattr(args, "allow_empty_classes", False),
        )
    return names


def check_writable(folder, flag="--output-dir"):
    """Refuses, before TensorFlow starts, a folder this command cannot
    write (read-only, no permission, a file in the way): one line naming
    it and `flag`. A missing folder is not made: the nearest folder above
    it that exists must be writable."""
    import tempfile

    probe_in = os.path.abspath(folder)
    while not os.path.exists(probe_in):
        probe_in = os.path.dirname(probe_in)
    try:
        if not os.path.isdir(probe_in):
            raise NotADirectoryError(
                errno.ENOTDIR, f"{probe_in} is a file", probe_in
            )
        descriptor, probe = tempfile.mkstemp(
            prefix=".write_probe_", dir=probe_in
        )
        os.close(descriptor)
        os.remove(probe)
    except OSError as error:
        raise UsageError(
            f"{flag} {folder} is not writable ({error.strerror}): pass a "
            f"writable {flag}."
        ) from None


class _TrackedStream:
    """A stream that remembers whether its last write ended a line, so a
    log line never continues a Keras progress bar (`... loss: 9.6[snp]`).
    """

    def __init__(self, stream):
        self._stream = stream
        self.at_line_start = True

    def write(self, text):
        if text:
            self.at_line_start = text.endswith("\n")
        return self._stream.write(text)

    def __getattr__(self, name):
        return getattr(self._stream, name)


class _LineHandler(logging.StreamHandler):
    """Starts a new line on stdout first when a progress bar left one
    open."""

    def __init__(self, stream, stdout):
        super().__init__(stream)
        self._stdout = stdout

    def emit(self, record):
        if not self._stdout.at_line_start:
            self._stdout.write("\n")
            self._stdout.flush()
        super().emit(record)


def setup_logging(verbose):
    """Progress on stdout, warnings and errors on stderr, each a line of
    its own; TensorFlow's C++ start-up lines off. Call before TensorFlow
    is imported."""
    quiet_tensorflow()
    root = logging.getLogger()
    if getattr(root, "_keras_snp_cli", False):
        return
    if not isinstance(sys.stdout, _TrackedStream):
        sys.stdout = _TrackedStream(sys.stdout)
    out = _LineHandler(sys.stdout, sys.stdout)
    out.setLevel(logging.INFO if verbose else logging.WARNING)
    out.addFilter(lambda record: record.levelno < logging.WARNING)
    err = _LineHandler(sys.stderr, sys.stdout)
    err.setLevel(logging.WARNING)
    for handler in (out, err):
        handler.setFormatter(logging.Formatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    root._keras_snp_cli = True
    # Libraries that speak at INFO level through the root logger.
    for name in ("absl", "tensorflow", "jax", "h5py", "PIL", "matplotlib"):
        logging.getLogger(name).setLevel(logging.WARNING)


def start(verbose):
    """Starts a command whose flags and files have been checked: logging
    (`setup_logging`), then Keras, with keras_snp's serializables
    registered. The entry (`keras_snp_entry`) defers that registration so
    that `--help` and usage errors answer before Keras starts; from here on
    the run sees the package as `import keras_snp` gives it."""
    setup_logging(verbose)
    import keras_snp

    keras_snp.register_serializables()


class ExpectedRetracing(logging.Filter):
    """Drops TensorFlow's "triggered tf.function retracing" warning: the
    prune stage scores a new model per row (and the SNP readouts one per
    pass), so each retraces by design; every other warning passes."""

    def filter(self, record):
        return "triggered tf.function retracing" not in record.getMessage()


def quiet_tensorflow():
    """TensorFlow's C++ start-up block (oneDNN, CUDA, absl) off, and its
    expected retracing warning; its other Python warnings stay on."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    tf_logger = logging.getLogger("tensorflow")
    if not any(isinstance(f, ExpectedRetracing) for f in tf_logger.filters):
        tf_logger.addFilter(ExpectedRetracing())


class Terminated(KeyboardInterrupt):
    """SIGTERM (what a cluster scheduler sends), handled as Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated()


KEPT = (
    "finished stages and the last checkpoint are kept; --resume continues "
    "the run"
)

#: errno -> the fix, for OS faults while writing a run.
OS_FIXES = {
    errno.ENOSPC: "free space on that disk, or pass another --output-dir",
    errno.EDQUOT: "the disk quota is full: free some of it, or pass "
    "another --output-dir",
    errno.EROFS: "that folder is read-only: pass a writable --output-dir",
    errno.EACCES: "no permission to write there: pass a writable "
    "--output-dir (or fix its permissions)",
    errno.EPERM: "no permission to write there: pass a writable "
    "--output-dir (or fix its permissions)",
    errno.ENOENT: "it is not there (deleted or unmounted while the run "
    "wrote it?): restore the folder and --resume, or start a new run",
}


def guarded(function, argv):
    """Runs a command: a `UsageError` becomes one line and exit status 2;
    Ctrl-C (130) and SIGTERM (143) one line saying what is kept; an OS
    fault while writing (disk full, read-only, no permission) one line
    naming the path and the fix, exit status 1. Where a library message
    names an argument (`Received: image_size=16`), the line adds the flag
    that sets it (`keras_snp.cli.flags`)."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        return function(argv)
    except UsageError as error:
        print(f"error: {with_flags(str(error))}", file=sys.stderr)
        return 2
    except Terminated:
        print(f"terminated (SIGTERM): {KEPT}", file=sys.stderr)
        return 143
    except KeyboardInterrupt:
        print(f"interrupted: {KEPT}", file=sys.stderr)
        return 130
    except OSError as error:
        fix = OS_FIXES.get(error.errno)
        if fix is None:
            raise
        where = error.filename or "the output folder"
        what = with_flags(str(error.strerror))
        print(f"error: {what} ({where}): {fix}.", file=sys.stderr)
        return 1
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
