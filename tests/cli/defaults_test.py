"""One default per setting: every flag that sets a `RunConfig` field has
that field's default, and every stage field of `RunConfig` has its stage
dataclass's default (`keras_snp.settings`), so the three cannot drift."""

import argparse
import dataclasses

import pytest

from keras_snp import settings
from keras_snp.cli.analyze import analyze_parser
from keras_snp.cli.prune import prune_parser
from keras_snp.cli.reproduce import reproduce_parser
from keras_snp.cli.train import train_parser
from keras_snp.run.config import STAGE_FIELDS
from keras_snp.run.config import RunConfig

PARSERS = {
    "train": train_parser,
    "analyze": analyze_parser,
    "prune": prune_parser,
    "reproduce": reproduce_parser,
}
# Flags whose default differs from the field's on purpose: prune's None is
# "the run's", reproduce's are sized for an hour on a laptop, and its claim
# 1 needs the readouts' own variance (three readout seeds).
OWN_DEFAULTS = {
    "prune": {"dataset", "theta", "prune_scope", "fine_tune_epochs"},
    "reproduce": {"epochs", "recipe", "readout_seeds"},
}
RUN_DEFAULTS = {f.name: f.default for f in dataclasses.fields(RunConfig)}


def _flags(parser):
    """`(flag, dest, default)` of every shown option that sets a field."""
    return [
        (action.option_strings[0], action.dest, action.default)
        for action in parser._actions
        if action.option_strings
        and action.dest in RUN_DEFAULTS
        and action.default is not argparse.SUPPRESS
    ]


def _as_field(value):
    return tuple(value) if isinstance(value, list) else value


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_flag_defaults_are_the_run_config_defaults(name):
    flags = _flags(PARSERS[name]())
    assert len(flags) >= 5, flags
    wrong = [
        f"{flag}: {default!r} != RunConfig.{dest} {RUN_DEFAULTS[dest]!r}"
        for flag, dest, default in flags
        if dest not in OWN_DEFAULTS.get(name, ())
        and _as_field(default) != RUN_DEFAULTS[dest]
    ]
    assert wrong == []


@pytest.mark.parametrize(
    "flag, stage, field",
    [
        ("--readout", settings.ReadoutConfig, "readout"),
        ("--readout-solver", settings.ReadoutConfig, "solver"),
        ("--readout-views", settings.ReadoutConfig, "views"),
        ("--readout-stream-views", settings.ReadoutConfig, "stream_views"),
        ("--readout-tolerance", settings.ReadoutConfig, "tolerance"),
        ("--readout-max-passes", settings.ReadoutConfig, "max_passes"),
        ("--readout-epochs", settings.ReadoutConfig, "epochs"),
        ("--null-samples", settings.HeadsSettings, "null_samples"),
        ("--no-ablation", settings.HeadsSettings, "ablation"),
        ("--scope", settings.PruneSettings, "scope"),
        ("--theta", settings.PruneSettings, "theta"),
    ],
)
def test_stage_flags_default_to_the_stage_dataclass(flag, stage, field):
    default = {f.name: f.default for f in dataclasses.fields(stage)}[field]
    actions = {
        a.option_strings[0]: a for a in train_parser()._actions if a.dest
    }
    assert actions[flag].default == default
    # reproduce and analyze share train's SNP and head flags
    for parser in (reproduce_parser(), analyze_parser()):
        for action in parser._actions:
            if flag in action.option_strings:
                assert action.default == default, (parser.prog, flag)


def test_every_stage_field_has_its_stage_default():
    assert set(STAGE_FIELDS) <= set(RUN_DEFAULTS)
    for run_field, (stage, field) in STAGE_FIELDS.items():
        stage_default = {f.name: f.default for f in dataclasses.fields(stage)}
        assert RUN_DEFAULTS[run_field] == stage_default[field], run_field


def test_run_config_gives_the_stages_their_settings():
    config = RunConfig(
        readout_solver="lab",
        readout_views=3,
        readout_stream_views=5,
        snp_epochs=7,
        null_samples=9,
    )
    readout = settings.ReadoutConfig(**config.readout_settings())
    assert (readout.solver, readout.views, readout.epochs) == ("lab", 3, 7)
    assert readout.stream_views == 5
    assert readout.tolerance == settings.ReadoutConfig().tolerance
    heads = config.heads_settings()
    assert (heads.null_samples, heads.ablation) == (9, True)


def test_solver_defaults_are_the_readouts():
    from keras_snp.snp.solver import SolverConfig

    assert SolverConfig is settings.SolverConfig
    solver = settings.ReadoutConfig().solver_config()
    assert (solver.tolerance, solver.max_passes) == (1e-4, 1000)
