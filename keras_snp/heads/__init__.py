"""Heads as label experts (METHOD.md section 3).

`analyze_heads` turns an `SNPResult` (and optionally the model and its test
split) into a `HeadsReport`; `write_heads_report` writes `heads.json`,
`heads.md`, `encoder_{l}.png` and TensorBoard summaries.
"""

from keras_snp.heads.ablation import HeadMask
from keras_snp.heads.ablation import ablation_accuracies
from keras_snp.heads.ablation import head_only_accuracies
from keras_snp.heads.analysis import HeadsReport
from keras_snp.heads.analysis import analyze_heads
from keras_snp.heads.experts import EncoderExperts
from keras_snp.heads.experts import analyze_encoder
from keras_snp.heads.experts import head_matrices
from keras_snp.heads.report import read_heads_report
from keras_snp.heads.report import write_heads_report
from keras_snp.heads.schema import SchemaError
from keras_snp.heads.schema import validate_heads_json

__all__ = [
    "EncoderExperts",
    "HeadMask",
    "HeadsReport",
    "SchemaError",
    "ablation_accuracies",
    "analyze_encoder",
    "analyze_heads",
    "head_matrices",
    "head_only_accuracies",
    "read_heads_report",
    "validate_heads_json",
    "write_heads_report",
]
