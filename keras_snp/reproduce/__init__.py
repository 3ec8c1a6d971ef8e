"""The reproduction report: the paper's four claims tested with numbers.

`reproduce(config)` runs the pipeline and writes REPORT.md; `build_cnn` is
the small VGG-style CNN set beside the CCT; `write_report(run_dir)` makes
the report of a finished run; `stats` holds the statistics it uses.
"""

__all__ = ["build_cnn", "reproduce", "write_report"]


def __getattr__(name):
    # Imported on first use (PEP 562): `cnn` imports Keras, and the
    # command line reads `runner`'s defaults before Keras starts.
    if name == "build_cnn":
        from keras_snp.reproduce.cnn import build_cnn

        return build_cnn
    if name == "reproduce":
        from keras_snp.reproduce.runner import reproduce

        return reproduce
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def write_report(run_dir, compare=None, bootstrap=1000):
    """REPORT.md and figures of a finished run folder; returns its path."""
    from keras_snp.reproduce import report

    return report.write_report(run_dir, compare=compare, bootstrap=bootstrap)
