"""Single-nodal performance (METHOD.md section 2)."""

from keras_snp.snp.callback import SNPCallback
from keras_snp.snp.clusters import DEFAULT_THETA
from keras_snp.snp.clusters import diagonal_mask
from keras_snp.snp.clusters import node_stats
from keras_snp.snp.clusters import tap_stats
from keras_snp.snp.engine import SNPEngine
from keras_snp.snp.engine import compute_snp
from keras_snp.snp.fields import SNPAccumulator
from keras_snp.snp.fields import group_logits
from keras_snp.snp.fields import node_fields
from keras_snp.snp.readout import LinearReadout
from keras_snp.snp.readout import ReadoutConfig
from keras_snp.snp.result import SNPResult
from keras_snp.snp.result import TapResult
from keras_snp.snp.taps import TapSpec
from keras_snp.snp.taps import resolve_taps
from keras_snp.snp.taps import tap_model
from keras_snp.snp.taps import taps

__all__ = [
    "DEFAULT_THETA",
    "LinearReadout",
    "ReadoutConfig",
    "SNPAccumulator",
    "SNPCallback",
    "SNPEngine",
    "SNPResult",
    "TapResult",
    "TapSpec",
    "compute_snp",
    "diagonal_mask",
    "group_logits",
    "node_fields",
    "node_stats",
    "resolve_taps",
    "tap_model",
    "tap_stats",
    "taps",
]
