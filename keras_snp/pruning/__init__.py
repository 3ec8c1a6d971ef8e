"""ANDC pruning (METHOD.md section 4): masks from SNP, controls, shrinking,
the recipe fine-tune, sweeps, and the structured variant (ours)."""

from keras_snp.pruning.andc import SCOPES
from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.andc import dilution_by_scope
from keras_snp.pruning.andc import magnitude_masks
from keras_snp.pruning.andc import mask_report
from keras_snp.pruning.andc import parse_scope
from keras_snp.pruning.andc import prune
from keras_snp.pruning.andc import pruning_taps
from keras_snp.pruning.andc import random_masks
from keras_snp.pruning.andc import strip
from keras_snp.pruning.fine_tune import FineTune
from keras_snp.pruning.fine_tune import fine_tune
from keras_snp.pruning.shrink import count_flops
from keras_snp.pruning.shrink import shrink
from keras_snp.pruning.structured import structured_masks
from keras_snp.pruning.sweep import sensitivity
from keras_snp.pruning.wrapper import ANDCPrune

__all__ = [
    "SCOPES",
    "ANDCPrune",
    "FineTune",
    "connection_masks",
    "count_flops",
    "dilution_by_scope",
    "fine_tune",
    "magnitude_masks",
    "mask_report",
    "parse_scope",
    "prune",
    "pruning_taps",
    "random_masks",
    "sensitivity",
    "shrink",
    "strip",
    "structured_masks",
]
