"""Single-nodal performance (METHOD.md section 2)."""

from keras_snp.snp.clusters import DEFAULT_THETA
from keras_snp.snp.clusters import diagonal_mask
from keras_snp.snp.clusters import node_stats
from keras_snp.snp.clusters import tap_stats
from keras_snp.snp.result import SNPResult
from keras_snp.snp.result import TapResult
