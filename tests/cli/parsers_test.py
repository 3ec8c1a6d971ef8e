"""Every flag of every command is documented, with its default, and one
concept has one name across commands."""

import argparse

import pytest

from keras_snp.cli import common
from keras_snp.cli.analyze import analyze_parser
from keras_snp.cli.prune import prune_parser
from keras_snp.cli.reproduce import reproduce_parser
from keras_snp.cli.train import train_parser
from keras_snp.utils import UsageError

PARSERS = {
    "train": train_parser,
    "analyze": analyze_parser,
    "prune": prune_parser,
    "reproduce": reproduce_parser,
}
# Old names kept working but not shown: they must stay hidden.
HIDDEN = {"--examples-per-class", "--snp-epochs", "--prune-scope"}


def _actions(parser):
    return [
        a for a in parser._actions if not isinstance(a, argparse._HelpAction)
    ]


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_every_action_has_help(name):
    for action in _actions(PARSERS[name]()):
        flags = set(action.option_strings)
        if flags & HIDDEN:
            assert action.help == argparse.SUPPRESS, flags
            continue
        assert action.help and len(action.help) > 10, (name, action.dest)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_help_shows_every_non_empty_default(name):
    parser = PARSERS[name]()
    formatter = common.HelpFormatter(parser.prog)
    for action in _actions(parser):
        if action.help == argparse.SUPPRESS or action.nargs == 0:
            continue
        text = formatter._get_help_string(action)
        if action.default not in (None, (), []) and action.option_strings:
            assert "default" in text, (name, action.dest, text)


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_help_names_the_command(name, monkeypatch):
    assert PARSERS[name]().prog == f"{name}.py"
    monkeypatch.setattr(common, "PROGRAM", "keras-snp")
    assert PARSERS[name]().prog == f"keras-snp {name}"


def test_one_name_per_concept():
    def flags(parser):
        return {
            f
            for a in _actions(parser)
            if a.help != argparse.SUPPRESS
            for f in a.option_strings
        }

    train, prune = flags(train_parser()), flags(prune_parser())
    assert "--scope" in train and "--scope" in prune
    assert "--prune-scope" not in train
    reproduce = flags(reproduce_parser())
    for parser_flags in (train, reproduce, flags(analyze_parser())):
        assert "--readout-epochs" in parser_flags
        assert "--limit" in parser_flags
        assert "--snp-epochs" not in parser_flags
    args = train_parser().parse_args(
        [
            "--prune-scope",
            "readout",
            "--snp-epochs",
            "2",
            "--examples-per-class",
            "5",
        ]
    )
    assert (args.prune_scope, args.snp_epochs, args.examples_per_class) == (
        "readout",
        2,
        5,
    )
    args = train_parser().parse_args([])
    assert (args.prune_scope, args.snp_epochs, args.examples_per_class) == (
        "all",
        200,
        None,
    )


def test_readout_epochs_metavar_is_n():
    text = train_parser().format_help()
    assert "--readout-epochs N" in text
    assert "SNP_EPOCHS" not in text


def test_parse_errors_are_one_line_in_user_words():
    with pytest.raises(common.UsageError) as caught:
        train_parser().parse_args(["--epochs", "-1"])
    text = str(caught.value)
    assert "\n" not in text and "--epochs" in text and "1 or more" in text
    with pytest.raises(common.UsageError, match="between 0 and 1"):
        train_parser().parse_args(["--theta", "1.5"])


def test_only_the_expected_retracing_warning_is_dropped():
    import logging

    from keras_snp.cli.common import ExpectedRetracing

    def record(message):
        return logging.LogRecord(
            "tensorflow", logging.WARNING, __file__, 1, message, None, None
        )

    keep = ExpectedRetracing().filter
    assert not keep(
        record(
            "5 out of the last 9 calls to <function f> "
            "triggered tf.function retracing. Tracing is"
        )
    )
    assert keep(record("Skipping variable loading for optimizer 'adamw'"))


def test_prune_analysis_flags_choose_the_analysis_run():
    from keras_snp.cli.prune import _analysis_requested

    plain = prune_parser().parse_args(["run"])
    assert not _analysis_requested(plain)
    args = prune_parser().parse_args(
        ["run", "--fine-tune-steps", "3", "--sweep-scopes", "ff,readout"]
    )
    assert _analysis_requested(args)
    assert args.fine_tune_steps == 3
    assert args.sweep_scopes == ["ff", "readout"]
    with pytest.raises(UsageError, match="unknown scope 'heads'"):
        prune_parser().parse_args(["run", "--sweep-scopes", "heads"])
