"""A `RunConfig` with the dataset's defaults filled in, checked.

Plain Python (no TensorFlow, no Keras), so the command line answers bad
flags at once; `pipeline.prepare` calls it again before any work.
"""

import dataclasses

from keras_snp import data as data_lib
from keras_snp.models.variants import get_config as cct_config
from keras_snp.run.config import STAGES
from keras_snp.utils import UsageError

DEFAULTED = (
    "variant",
    "image_size",
    "batch_size",
    "recipe",
    "learning_rate",
    "weight_decay",
    "epochs",
    "warmup_epochs",
)


def resolve_config(config, check_variant=True):
    """Fills the dataset's defaults into every `None` setting and checks
    the settings; `check_variant=False` skips the CCT variant check (a
    model other than the CCT)."""
    data_lib.source_kind(config.dataset)
    defaults = data_lib.defaults_for(config.dataset).to_dict()
    filled = {
        key: defaults[key] for key in DEFAULTED if getattr(config, key) is None
    }
    config = dataclasses.replace(config, **filled)
    unknown = set(config.stages) - set(STAGES)
    if unknown:
        raise UsageError(
            f"Unknown stage(s) {sorted(unknown)}: use any of {list(STAGES)}."
        )
    try:
        if check_variant:
            cct_config(config.variant, image_size=config.image_size)
    except ValueError as error:
        raise UsageError(str(error)) from error
    if config.epochs < 1:
        raise UsageError(f"--epochs must be >= 1, got {config.epochs}.")
    if config.batch_size < 1:
        raise UsageError(f"--batch-size must be >= 1, got {config.batch_size}.")
    if not 0 < config.theta < 1:
        raise UsageError(
            f"--theta must be in (0, 1), got {config.theta}: try 0.3."
        )
    return config
