"""The reproduction report: the paper's four claims tested with numbers.

`reproduce(config)` runs the pipeline and writes REPORT.md; `build_cnn` is
the small VGG-style CNN set beside the CCT; `write_report(run_dir)` makes
the report of a finished run; `stats` holds the statistics it uses.
Imported on first use (PEP 562): `cnn` imports Keras, and the command line
reads `runner`'s defaults before Keras starts.
"""

from keras_snp.utils import lazy_exports

_EXPORTS = {"build_cnn": "cnn", "reproduce": "runner", "write_report": "report"}
__all__ = sorted(_EXPORTS)

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
