"""The settings of one run, as a frozen dataclass (saved in run.json).

`RunConfig` is flat, one field per flag, and `run.json` stores it as one
flat dictionary. The stages' settings are not defined here: each field in
`STAGE_FIELDS` takes its default from the stage's dataclass in
`keras_snp.settings` (`readout_views` from `ReadoutConfig.views`, ...), and
`readout_settings()` and `heads_settings()` give the stages their settings
back from the run's values (the prune stage's `PruneSettings`:
`keras_snp.run.prune_stage.settings_from_config`).
"""

import dataclasses
import os
import time

from keras_snp.constants import DEFAULT_THETA
from keras_snp.settings import HeadsSettings
from keras_snp.settings import PruneSettings
from keras_snp.settings import ReadoutConfig

STAGES = ("train", "export", "snp", "heads", "control", "prune", "pages")
#: What `train.py` runs unless `--stages` says otherwise: the untrained
#: network's control (`control`) is `reproduce.py`'s, and asked for by name.
DEFAULT_STAGES = tuple(s for s in STAGES if s != "control")

#: RunConfig field -> (the stage dataclass, its field): the one default of
#: each is the stage's, and the run's value goes back into it.
STAGE_FIELDS = {
    "readout": (ReadoutConfig, "readout"),
    "readout_solver": (ReadoutConfig, "solver"),
    "readout_views": (ReadoutConfig, "views"),
    "readout_stream_views": (ReadoutConfig, "stream_views"),
    "readout_tolerance": (ReadoutConfig, "tolerance"),
    "readout_max_passes": (ReadoutConfig, "max_passes"),
    "snp_epochs": (ReadoutConfig, "epochs"),
    "null_samples": (HeadsSettings, "null_samples"),
    "ablation": (HeadsSettings, "ablation"),
    "prune_scope": (PruneSettings, "scope"),
}
# Fields whose run.json value is a list and whose RunConfig value a tuple.
_TUPLES = ("stages", "taps", "mean", "std")


@dataclasses.dataclass(frozen=True)
class RunConfig:
    """Everything `scripts/train.py` needs; flags map one to one.

    `None` means "the dataset's default" (see `keras_snp.data`).
    """

    dataset: str = "synthetic"
    variant: str | None = None
    positional_embedding: str = "learnable"
    image_size: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    output_dir: str = "saved_models"
    run_name: str | None = None
    strategy: str = "auto"
    cpu_replicas: int | None = None
    precision: str = "auto"
    steps_per_execution: int | None = None  # None: 8 on GPUs, 1 on CPUs
    mean: tuple | None = None  # normalisation; None: the dataset's
    std: tuple | None = None
    seed: int = 0
    recipe: str | None = None
    learning_rate: float | None = None
    weight_decay: float | None = None
    warmup_epochs: int | None = None
    data_dir: str | None = None
    download: bool = True
    label_names: str | None = None  # a file: JSON list or one per line
    num_classes: int | None = None
    examples_per_class: int | None = None
    allow_empty_classes: bool = False  # classes with no training image
    test_split: str | None = None  # a folder without test/: what to score
    steps_per_epoch: int | None = None
    stages: tuple = DEFAULT_STAGES
    theta: float = DEFAULT_THETA
    readout: str = ReadoutConfig.readout
    readout_solver: str = ReadoutConfig.solver
    readout_views: int = ReadoutConfig.views
    readout_stream_views: int = ReadoutConfig.stream_views
    readout_tolerance: float = ReadoutConfig.tolerance
    readout_max_passes: int = ReadoutConfig.max_passes
    snp_epochs: int = ReadoutConfig.epochs  # the lab solver's epochs
    # readouts solved this many times (augmentation seeds seed, seed+1,
    # ...): the spread of their test accuracies enters claim 1's CI
    readout_seeds: int = 1
    snp_every: int | None = None
    taps: tuple | None = None
    save_readouts: bool = False
    null_samples: int = HeadsSettings.null_samples
    ablation: bool = HeadsSettings.ablation
    analyse_anyway: bool = False  # analyse a model that did not learn
    prune_scope: str = PruneSettings.scope
    fine_tune_epochs: int | None = None  # None: a tenth of epochs, >= 1
    verbose: int = 1

    def resolved_run_name(self):
        if self.run_name:
            return self.run_name
        dataset = os.path.basename(os.path.normpath(self.dataset))
        dataset = os.path.splitext(dataset)[0]
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return f"{dataset}-{self.variant or 'default'}-{stamp}"

    def _stage_values(self, stage):
        return {
            name: getattr(self, field)
            for field, (owner, name) in STAGE_FIELDS.items()
            if owner is stage
        }

    def readout_settings(self):
        """The `compute_snp` readout settings of this run (a dictionary of
        `ReadoutConfig` fields)."""
        return self._stage_values(ReadoutConfig)

    def heads_settings(self):
        """The `HeadsSettings` of this run's heads stage."""
        return HeadsSettings(**self._stage_values(HeadsSettings))

    def to_dict(self):
        """The flat dictionary saved as run.json's `config`."""
        config = dataclasses.asdict(self)
        for name in _TUPLES:  # as JSON reads them back
            if config[name] is not None:
                config[name] = list(config[name])
        config["taps"] = config["taps"] or None
        return config

    @classmethod
    def from_dict(cls, config):
        """The `RunConfig` of a run.json `config` (`to_dict`'s inverse).

        Keys it does not know (written by another version) are ignored, and
        fields the dictionary lacks take their defaults, so the run.json of
        an older or newer run still reads.

        Example:
        >>> config = RunConfig(taps=("encoder_1_mha",), readout_views=4)
        >>> RunConfig.from_dict(config.to_dict()) == config
        True
        """
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in config.items() if k in fields}
        for name in _TUPLES:
            if values.get(name) is not None:
                values[name] = tuple(values[name])
        return cls(**values)

    # Settings that must match for `--resume` to continue a run.
    IDENTITY = (
        "dataset",
        "variant",
        "image_size",
        "batch_size",
        "seed",
        "recipe",
        "positional_embedding",
        "num_classes",
        "examples_per_class",
    )
