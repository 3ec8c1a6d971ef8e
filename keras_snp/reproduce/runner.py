"""`reproduce(config)`: the whole pipeline, then REPORT.md.

One command trains the model (a CCT or the small CNN), measures SNP,
reports head experts and ANDC-prunes with controls through
`keras_snp.run.pipeline`, then writes `REPORT.md` and its figures into the
run folder. `--resume` continues an interrupted run (finished stages are
skipped) or, when every stage is done, only rewrites the report.
"""

import dataclasses
import os

# Defaults sized for ~1 hour on a 2-core CPU with CIFAR-100 at 32 px
# (docs/results and REPORT.md give the measured timings).
DEFAULT_VARIANT = "cct_4_3x2"
DEFAULT_EPOCHS = 10
DEFAULT_RECIPE = "light"
CNN_VARIANT = "cnn_4block"


def reproduce(
    config,
    model="cct",
    resume=False,
    command=None,
    compare=None,
    bootstrap=1000,
    publish=None,
):
    """Runs the pipeline of `config`, then writes REPORT.md; returns its
    path.

    Args:
        config: a `RunConfig` (`make_config` gives the defaults).
        model: `"cct"` or `"cnn"` (the CNN runs train, export, snp only).
        resume: continue the run folder when it exists.
        command: the command line written at the top of the report.
        compare: another run folder to set beside this one.
        bootstrap: resamples of every bootstrap CI.
        publish: a `.md` path to copy the report to (figures beside it).
    """
    from keras_snp.reproduce import cnn
    from keras_snp.reproduce import report
    from keras_snp.run import pipeline

    name = config.resolved_run_name()
    path = os.path.join(config.output_dir, name)
    config = dataclasses.replace(config, run_name=name)
    resume = resume and os.path.isfile(os.path.join(path, "run.json"))
    kwargs = {}
    if model == "cnn":
        kwargs = {
            "model_fn": cnn.build_cnn,
            "taps": [f"block_{i + 1}" for i in range(len(cnn.DEFAULT_WIDTHS))],
        }
    folder = pipeline.run(config, resume=resume, **kwargs)
    if command and "reproduce" not in folder.state:
        folder.update(reproduce={"command": command, "model": model})
    path = report.write_report(
        folder.path, compare=compare, bootstrap=bootstrap
    )
    if publish:
        report.publish(folder.path, publish)
    return path
