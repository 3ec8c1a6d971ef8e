"""Every tap's readout features, cached once per augmented view.

The converged readout (`keras_snp.snp.solver`) reads the training split many
times; the frozen model runs forward only once per augmented view, and each
tap's flattened readout input is kept here in `dtype` (float16 by default):
in memory while the cache fits `memory_budget` bytes, else spilled to one
raw file per tap in `directory` (removed by `close`). Files are read back in
blocks, never mapped whole, so they cost no resident memory.
"""

import os
import shutil
import tempfile

import numpy as np

from keras_snp.utils import check_free_space


class FeatureCache:
    """Rows of `(features,)` per tap, appended batch by batch.

    Args:
        widths: features per tap (the flattened readout input's width).
        dtype: storage dtype, `"float16"` or `"float32"`.
        memory_budget: bytes held in memory before spilling to disk.
        directory: where spilled files go (a fresh temporary folder inside
            it, removed by `close`); None: the system's temporary folder.

    Example:
    >>> cache = FeatureCache([3], memory_budget=1 << 20)
    >>> cache.append([np.ones((2, 3))], np.array([0, 1]))
    >>> cache.tap(0).shape, cache.on_disk
    ((2, 3), False)
    >>> cache.close()
    """

    def __init__(
        self, widths, dtype="float16", memory_budget=3 << 30, directory=None
    ):
        if dtype not in ("float16", "float32"):
            raise ValueError(
                "`dtype` must be 'float16' or 'float32'. Received: "
                f"dtype={dtype!r}"
            )
        self.widths = [int(w) for w in widths]
        self.dtype = np.dtype(dtype)
        self.memory_budget = int(memory_budget)
        self.directory = directory
        self.rows = 0
        self._chunks = [[] for _ in self.widths]
        self._labels = []
        self._folder = None
        self._held = 0
        #: rows the cache will hold in the end, where known: the free
        #: space of `directory` is checked against it before spilling.
        self.expected_rows = None

    @property
    def on_disk(self):
        return self._folder is not None

    @property
    def nbytes(self):
        """Bytes of all cached features."""
        return self.rows * sum(self.widths) * self.dtype.itemsize

    def _path(self, index):
        return os.path.join(self._folder, f"tap_{index}.bin")

    def _spill(self):
        if self.directory is not None:
            os.makedirs(self.directory, exist_ok=True)
        row_bytes = sum(self.widths) * self.dtype.itemsize
        final_rows = self.expected_rows or 2 * self.rows
        check_free_space(
            self.directory or tempfile.gettempdir(),
            max(final_rows, self.rows) * row_bytes,
            "the SNP feature cache (fewer `views`, or free space)",
        )
        self._folder = tempfile.mkdtemp(prefix="snp_cache_", dir=self.directory)
        for index, chunks in enumerate(self._chunks):
            with open(self._path(index), "ab") as f:
                for chunk in chunks:
                    f.write(chunk.tobytes())
        self._chunks = [[] for _ in self.widths]

    def append(self, features, labels):
        """Adds one batch: `features[i]` is `(B, widths[i])` for tap i."""
        labels = np.asarray(labels, "int32")
        rows = [np.asarray(f).reshape(len(labels), -1) for f in features]
        for f, width in zip(rows, self.widths):
            if f.shape[1] != width:
                raise ValueError(
                    f"A batch has {f.shape[1]} features for a tap of "
                    f"{width}. Received: shape={f.shape}"
                )
        rows = [f.astype(self.dtype) for f in rows]
        self._labels.append(labels)
        self.rows += len(labels)
        if self.on_disk:
            for index, f in enumerate(rows):
                with open(self._path(index), "ab") as out:
                    out.write(f.tobytes())
            return
        for chunks, f in zip(self._chunks, rows):
            chunks.append(f)
        self._held += sum(f.nbytes for f in rows)
        if self._held > self.memory_budget:
            self._spill()

    @property
    def labels(self):
        """`(rows,)` int32 labels."""
        return np.concatenate(self._labels) if self._labels else np.zeros(0)

    def blocks(self, index, block_rows):
        """Tap `index`'s rows in consecutive `(<= block_rows, width)` arrays."""
        width = self.widths[index]
        if not self.on_disk:
            data = (
                np.concatenate(self._chunks[index])
                if len(self._chunks[index]) != 1
                else self._chunks[index][0]
            )
            for start in range(0, self.rows, block_rows):
                yield data[start : start + block_rows]
            return
        with open(self._path(index), "rb") as f:
            for start in range(0, self.rows, block_rows):
                count = min(block_rows, self.rows - start) * width
                yield np.fromfile(f, self.dtype, count).reshape(-1, width)

    def tap(self, index):
        """Tap `index`'s whole `(rows, width)` array (a copy from disk)."""
        return np.concatenate(list(self.blocks(index, max(self.rows, 1))))

    def close(self):
        """Frees the memory and removes the spilled files."""
        self._chunks = [[] for _ in self.widths]
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None
