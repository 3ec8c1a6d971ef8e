"""ANDC pruning (METHOD.md section 4): masks from SNP, controls, shrinking."""

from keras_snp.pruning.andc import SCOPES
from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.andc import magnitude_masks
from keras_snp.pruning.andc import mask_report
from keras_snp.pruning.andc import prune
from keras_snp.pruning.andc import random_masks
from keras_snp.pruning.andc import strip
from keras_snp.pruning.shrink import count_flops
from keras_snp.pruning.shrink import shrink
from keras_snp.pruning.wrapper import ANDCPrune

__all__ = [
    "SCOPES", "ANDCPrune", "connection_masks", "count_flops",
    "magnitude_masks", "mask_report", "prune", "random_masks", "shrink",
    "strip",
]
