"""`SNPCallback`: measure SNP of the model being trained, during `fit`."""

import logging
import os

import keras

from keras_snp.snp import clusters
from keras_snp.snp.engine import compute_snp

logger = logging.getLogger(__name__)


class SNPCallback(keras.callbacks.Callback):
    """Measures single-nodal performance during training.

    Every `every_n_epochs` epochs and at the end of training, the current
    model is copied (frozen, inference mode), one readout per tap is
    trained on `train_data` and every node's SNP matrix is computed on
    `test_data` with `compute_snp`. The weights being trained, the
    optimizer and the fit history are never touched. Results go to
    `on_result(result, epoch)` (e.g. `keras_snp.run.snp_board.snp_logger`
    for TensorBoard) and, optionally, to `output_dir`.

    Args:
        train_data: re-iterable of `(images, labels)` batches for the
            readouts (labels one-hot or int).
        test_data: the same, for the SNP matrices and readout accuracy.
        taps: layer names, or `"all"` for the CCT's mha/ff/res taps.
        every_n_epochs: measure after every n-th epoch (None: only at the
            end of training).
        readout_epochs: epochs of the lab solver per measurement (with
            `solver="lab"` in `snp_kwargs`; the default solver solves each
            readout to its optimum and ignores it).
        theta: threshold of the statistics.
        on_result: called as `on_result(result, epoch)` after every
            measurement (e.g. `snp_logger("run/logs/snp")` writes it to
            TensorBoard), or None.
        output_dir: folder for `summary.json` / `snp.npz`, or None. The
            final measurement is written there; intermediate ones in
            `output_dir/epoch_{n:04d}`.
        at_train_end: also measure when training ends (skipped when the
            last epoch was just measured).
        save_readouts: also save the readout weights `T.W`.
        verbose: 0 silent; 1 progress bars and log lines.
        **snp_kwargs: passed on to `compute_snp` (`readout`, `batch_size`,
            `learning_rate`, `scale`, ...).

    Example:
    ```python
    callback = keras_snp.SNPCallback(train_ds, test_ds, every_n_epochs=10,
                                     on_result=snp_logger("run/logs/snp"),
                                     output_dir="run/snp")
    model.fit(train_ds, epochs=100, callbacks=[callback])
    callback.results  # {epoch: SNPResult}
    ```
    """

    def __init__(
        self,
        train_data,
        test_data,
        taps="all",
        every_n_epochs=None,
        readout_epochs=None,
        theta=clusters.DEFAULT_THETA,
        on_result=None,
        output_dir=None,
        at_train_end=True,
        save_readouts=False,
        verbose=1,
        **snp_kwargs,
    ):
        super().__init__()
        if every_n_epochs is not None and int(every_n_epochs) < 1:
            raise ValueError(
                "`every_n_epochs` must be >= 1 or None. "
                f"Received: every_n_epochs={every_n_epochs}"
            )
        if readout_epochs is not None and int(readout_epochs) < 0:
            raise ValueError(
                "`readout_epochs` must be >= 0. Received: "
                f"readout_epochs={readout_epochs}"
            )
        clusters.check_theta(theta)
        for key in ("epochs", "theta", "taps", "verbose"):
            if key in snp_kwargs:
                raise ValueError(
                    f"Pass `{key}` as its own SNPCallback "
                    f"argument, not through **snp_kwargs."
                )
        self.train_data = train_data
        self.test_data = test_data
        self.taps = taps
        self.every_n_epochs = every_n_epochs
        self.readout_epochs = (
            None if readout_epochs is None else int(readout_epochs)
        )
        self.theta = float(theta)
        self.on_result = on_result
        self.output_dir = output_dir
        self.at_train_end = bool(at_train_end)
        self.save_readouts = bool(save_readouts)
        self.verbose = verbose
        self.snp_kwargs = snp_kwargs
        self.results = {}
        self.last_result = None
        self._epoch = 0
        self._measured = None

    def on_train_begin(self, logs=None):
        self.results = {}
        self.last_result = None
        self._epoch = 0
        self._measured = None

    def on_epoch_end(self, epoch, logs=None):
        self._epoch = epoch + 1
        if self.every_n_epochs and self._epoch % self.every_n_epochs == 0:
            self._measure(self._epoch, final=False)

    def on_train_end(self, logs=None):
        if self.at_train_end and self._measured != self._epoch:
            self._measure(self._epoch, final=True)
        elif self.at_train_end and self.output_dir and self.last_result:
            self.last_result.save(self.output_dir, self.save_readouts)

    def measure(self):
        """Measures `self.model` now; returns the `SNPResult`."""
        return compute_snp(
            self.model,
            self.train_data,
            self.test_data,
            taps=self.taps,
            theta=self.theta,
            verbose=self.verbose,
            **(
                {}
                if self.readout_epochs is None
                else {"epochs": self.readout_epochs}
            ),
            **self.snp_kwargs,
        )

    def _measure(self, epoch, final):
        if self.verbose:
            logger.info("SNP of the model after epoch %d", epoch)
        result = self.measure()
        self.results[epoch] = result
        self.last_result = result
        self._measured = epoch
        if self.on_result is not None:
            self.on_result(result, epoch)
        if self.output_dir:
            folder = (
                self.output_dir
                if final
                else os.path.join(self.output_dir, f"epoch_{epoch:04d}")
            )
            result.save(folder, self.save_readouts)
