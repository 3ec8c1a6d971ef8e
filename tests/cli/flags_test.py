"""Library errors name the argument (`Received: image_size=16`); the
command line's one error line adds the flag that sets it."""

import errno

import pytest

from keras_snp.cli import flags
from keras_snp.cli.analyze import analyze_parser
from keras_snp.cli.common import guarded
from keras_snp.cli.prune import prune_parser
from keras_snp.cli.reproduce import reproduce_parser
from keras_snp.cli.train import train_parser
from keras_snp.models.variants import get_config
from keras_snp.run.config import RunConfig
from keras_snp.run.resolve import resolve_config


def _error_line(capsys, command):
    assert guarded(command, []) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err, err
    return err.strip()


def test_library_error_names_the_argument_not_the_flag():
    with pytest.raises(ValueError) as caught:
        get_config("cct_7_7x2", image_size=16)
    message = str(caught.value)
    assert message.startswith("`image_size` must be at least ")
    assert message.endswith("Received: image_size=16")
    assert "--" not in message


def test_command_line_error_names_the_flag(capsys):
    config = RunConfig(variant="cct_7_7x2", image_size=16)
    line = _error_line(capsys, lambda argv: resolve_config(config))
    assert line.startswith("error: `image_size` must be at least ")
    assert line.endswith("Received: image_size=16 (set with --image-size)")


def test_strategy_error_names_the_flag(capsys):
    from keras_snp.training.strategy import make_placement

    line = _error_line(capsys, lambda argv: make_placement("nope"))
    assert "`strategy` must be one of" in line
    assert line.endswith("Received: strategy='nope' (set with --strategy)")


def test_tfds_error_names_both_flags(tmp_path, capsys):
    from keras_snp.data.sources import check_source

    def command(argv):
        check_source("cifar100", data_dir=str(tmp_path), download=False)

    line = _error_line(capsys, command)
    assert "not prepared in" in line and "point `data_dir` at" in line
    assert line.endswith(
        f"Received: data_dir='{tmp_path}', download=False "
        "(set with --data-dir, --no-download)"
    )


def test_os_fault_names_the_flag_of_the_argument(capsys):
    def command(argv):
        raise OSError(
            errno.ENOSPC,
            "Not enough free space for the SNP feature cache (fewer "
            "`views`, or free space)",
            "/tmp/cache",
        )

    assert guarded(command, []) == 1
    line = capsys.readouterr().err
    assert "free space) (set with --readout-views) (/tmp/cache)" in line


@pytest.mark.parametrize(
    "message, expected",
    [
        ("No argument here.", "No argument here."),
        ("Received: safe_mode=False", "Received: safe_mode=False"),
        ("Use --theta 0.3: theta=2", "Use --theta 0.3: theta=2"),
        (
            "Pass `allow_empty_classes=True` or `num_classes`.",
            "Pass `allow_empty_classes=True` or `num_classes` "
            "(set with --allow-empty-classes, --num-classes).",
        ),
        (
            "Received: global_batch_size=1",
            "Received: global_batch_size=1 (set with --batch-size)",
        ),
    ],
)
def test_with_flags(message, expected):
    assert flags.with_flags(message) == expected


def test_every_mapped_flag_exists():
    parsers = (train_parser, analyze_parser, prune_parser, reproduce_parser)
    known = {
        option
        for parser in parsers
        for action in parser()._actions
        for option in action.option_strings
    }
    missing = set(flags.ARGUMENT_FLAGS.values()) - known
    assert not missing, missing
