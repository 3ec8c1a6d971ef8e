"""Small helpers shared by every stage: atomic writes, user errors and
argument checks."""

import contextlib
import importlib
import json
import os
import shutil
import tempfile


class UsageError(ValueError):
    """Bad input from the user; scripts print its one-line message, exit 2."""


def check_one_of(name, value, choices):
    """Raises `ValueError` unless `value` is one of `choices`.

    Example:
    >>> check_one_of("readout", "pooled", ("flatten", "pooled"))
    """
    if value not in choices:
        raise ValueError(
            f"`{name}` must be one of {choices}. Received: {name}={value!r}"
        )


def check_at_least(name, value, minimum, none_ok=False):
    """Raises `ValueError` unless `value >= minimum` (or None, where
    `none_ok`).

    Example:
    >>> check_at_least("epochs", -1, 0)
    Traceback (most recent call last):
    ...
    ValueError: `epochs` must be >= 0. Received: epochs=-1
    """
    if none_ok and value is None:
        return
    if value < minimum:
        or_none = " or None" if none_ok else ""
        raise ValueError(
            f"`{name}` must be >= {minimum}{or_none}. Received: {name}={value}"
        )


@contextlib.contextmanager
def atomic_path(path):
    """Yields a temporary path beside `path`, renamed onto it on success.

    Works for files and folders (a SavedModel, a run sub-folder). On error
    the temporary path is removed, so readers never see half-written output.
    """
    path = os.fspath(path)
    parent = os.path.dirname(os.path.abspath(path))
    os.makedirs(parent, exist_ok=True)
    base = os.path.basename(path)
    tmp_dir = tempfile.mkdtemp(prefix=f".{base}.", dir=parent)
    tmp = os.path.join(tmp_dir, base)
    try:
        yield tmp
        if os.path.isdir(path) and not os.path.islink(path):
            old = tmp_dir + ".old"
            os.rename(path, old)
            os.rename(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)


def write_text(path, text):
    """Writes `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8") as f:
            f.write(text)


def write_json(path, obj):
    """Writes `obj` as indented strict JSON to `path` atomically: NaN and
    infinities become `null` (bare `NaN` is not JSON; jq and JavaScript
    refuse it)."""
    text = json.dumps(
        strict_json(obj), indent=2, default=_json_default, allow_nan=False
    )
    write_text(path, text + "\n")


def strict_json(obj):
    """`obj` with every non-finite float (numpy's too) replaced by None.

    Example:
    >>> strict_json({"z": float("nan"), "x": [1.5, float("inf")]})
    {'z': None, 'x': [1.5, None]}
    """
    import math

    import numpy as np

    if isinstance(obj, dict):
        return {k: strict_json(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [strict_json(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return strict_json(obj.tolist())
    if isinstance(obj, (float, np.floating)):
        return float(obj) if math.isfinite(obj) else None
    return obj


def _json_default(value):
    import numpy as np

    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"Cannot write {type(value).__name__} to JSON")


def tensorflow_available():
    """Whether TensorFlow is importable (it is optional under JAX)."""
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return False
    return True


class CorruptFile(UsageError):
    """A file of a run that cannot be read back; the message names it and
    the fix."""


#: Where a run's file comes from -> how to get a good one again.
_CORRUPT_FIXES = (
    (
        "run.json",
        "restore it from a copy, or delete the run folder and "
        "start the run again",
    ),
    (
        "checkpoints",
        "delete that checkpoints folder and --resume (training "
        "restarts from its first epoch), or --resume --redo train",
    ),
    (
        "pruned",
        "run --resume --redo prune (or keras-snp prune) to write it "
        "again, or delete it",
    ),
    ("snp", "run --resume --redo snp to write it again, or delete it"),
    ("heads", "run --resume --redo heads to write it again, or delete it"),
)


def corrupt_file(path, reason):
    """The `CorruptFile` error of `path`: one line naming it and the fix."""
    parts = os.path.normpath(os.fspath(path)).split(os.sep)
    fix = "delete it, or write it again with the stage that made it"
    for marker, text in _CORRUPT_FIXES:
        if marker in parts:
            fix = text
            break
    return CorruptFile(f"{path} is corrupt ({reason}): {fix}.")


def check_free_space(folder, needed_bytes, what):
    """Raises `OSError(ENOSPC)` naming `folder` when its disk has less
    free space than `needed_bytes` (plus a 5 % margin) for `what`: a
    write that would fill the disk is refused before it starts (h5py can
    crash on a full disk)."""
    import errno

    probe = os.path.abspath(os.fspath(folder))
    while not os.path.isdir(probe):
        probe = os.path.dirname(probe)
    free = shutil.disk_usage(probe).free
    needed = int(needed_bytes * 1.05) + (1 << 20)
    if free < needed:
        raise OSError(
            errno.ENOSPC,
            f"Not enough free space for {what} (needs about "
            f"{needed / 2**20:,.0f} MB, {free / 2**20:,.0f} MB free)",
            os.fspath(folder),
        )


def weights_bytes(model):
    """Bytes of a model's weights and its optimizer's variables as
    stored (what a checkpoint or a `.keras` file writes, about)."""
    import numpy as np

    variables = list(model.weights)
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and getattr(optimizer, "built", False):
        variables += list(optimizer.variables)
    return sum(
        int(np.prod(v.shape)) * np.dtype(str(v.dtype)).itemsize
        for v in variables
    )


def read_json(path):
    """The JSON of `path`; a file that does not parse raises `CorruptFile`
    naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        reason = "empty" if not os.path.getsize(path) else "not valid JSON"
        raise corrupt_file(path, reason) from error


def load_npz(path):
    """The arrays of the `.npz` at `path`, read at once; a truncated or
    damaged file raises `CorruptFile` naming it."""
    import zipfile

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as data:
            return {name: data[name] for name in data.files}
    except (zipfile.BadZipFile, ValueError, EOFError, KeyError) as error:
        raise corrupt_file(path, "not a readable .npz") from error


def lazy_exports(package, exports, public, submodules=()):
    """`(__getattr__, __dir__)` for a package whose public names load on
    first use (PEP 562), the one way a keras_snp package exports lazily.

    `exports` maps a name to the sub-module, relative to `package`, that
    defines it; each name in `submodules` is a sub-package of `package`,
    imported and returned as itself.

    Example:
    ```python
    __getattr__, __dir__ = lazy_exports(__name__, {"build_cct": "cct"},
                                        ["build_cct"])
    ```
    """

    def __getattr__(name):
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name in exports:
            module = importlib.import_module(f"{package}.{exports[name]}")
            return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted({*vars(importlib.import_module(package)), *public})

    return __getattr__, __dir__
