"""Progress lines: one line per stage and sub-step, `[stage] message`.

Every stage of the pipeline, and every sub-step that takes more than a
few seconds (a fine-tune, an evaluation, an SNP pass), reports through
`report`. The lines go to the `keras_snp.progress` logger at INFO level;
the command line prints them on stdout, a library user sees them with
`logging.basicConfig(level=logging.INFO)`, and `verbose=0` code paths
simply do not call it.

Example:
```python
from keras_snp.run import progress

progress.report("prune", "fine-tuning %s %d/%d", "andc", 1, 4)
# [prune] fine-tuning andc 1/4
```
"""

import logging
import time

logger = logging.getLogger("keras_snp.progress")


def report(stage, message, *args):
    """Logs `[stage] message % args` as one progress line."""
    logger.info("[%s] " + message, stage, *args)


class Steps:
    """Numbered sub-steps of a stage, each line with its elapsed time.

    ```python
    steps = Steps("prune", total=4)
    steps.start("fine-tuning andc")    # [prune] fine-tuning andc 1/4 ...
    steps.done("accuracy %.4f", 0.61)  # [prune] ... done in 12.3 s: ...
    ```
    """

    def __init__(self, stage, total):
        self.stage = stage
        self.total = total
        self.index = 0
        self._what = None
        self._since = None

    def start(self, what):
        self.index += 1
        self._what = what
        self._since = time.monotonic()
        report(self.stage, "%s %d/%d ...", what, self.index, self.total)

    def done(self, message="", *args):
        seconds = time.monotonic() - (self._since or time.monotonic())
        tail = (": " + message % args) if message else ""
        report(
            self.stage,
            "%s %d/%d done in %.1f s%s",
            self._what,
            self.index,
            self.total,
            seconds,
            tail,
        )
