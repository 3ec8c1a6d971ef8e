"""The settings of one run, as a frozen dataclass (saved in run.json)."""

import dataclasses
import os
import time

from keras_snp.constants import DEFAULT_THETA

STAGES = ("train", "export", "snp", "heads", "prune")


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
    steps_per_epoch: int | None = None
    stages: tuple = STAGES
    theta: float = DEFAULT_THETA
    readout: str = "flatten"
    readout_solver: str = "lbfgs"
    readout_views: int = 2
    readout_tolerance: float = 1e-4
    readout_max_passes: int = 1000
    snp_epochs: int = 200  # the lab solver's epochs
    snp_every: int | None = None
    taps: tuple | None = None
    save_readouts: bool = False
    null_samples: int = 100
    ablation: bool = True
    analyse_anyway: bool = False  # analyse a model that did not learn
    prune_scope: str = "all"
    fine_tune_epochs: int | None = None  # None: a tenth of epochs, >= 1
    verbose: int = 1

    def resolved_run_name(self):
        if self.run_name:
            return self.run_name
        dataset = os.path.basename(os.path.normpath(self.dataset))
        dataset = os.path.splitext(dataset)[0]
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return f"{dataset}-{self.variant or 'default'}-{stamp}"

    def readout_settings(self):
        """The `compute_snp` readout settings of this run."""
        return {
            "readout": self.readout,
            "solver": self.readout_solver,
            "views": self.readout_views,
            "tolerance": self.readout_tolerance,
            "max_passes": self.readout_max_passes,
            "epochs": self.snp_epochs,
        }

    def to_dict(self):
        config = dataclasses.asdict(self)
        config["stages"] = list(self.stages)
        config["taps"] = list(self.taps) if self.taps else None
        return config

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
