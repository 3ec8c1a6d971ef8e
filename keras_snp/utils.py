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


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def lazy_exports(package, exports, public):
    """`(__getattr__, __dir__)` for a package whose public names load on
    first use (PEP 562): `exports` maps a name to the sub-module, relative
    to `package`, that defines it.

    Example:
    ```python
    __getattr__, __dir__ = lazy_exports(__name__, {"build_cct": "cct"},
                                        ["build_cct"])
    ```
    """

    def __getattr__(name):
        if name in exports:
            module = importlib.import_module(f"{package}.{exports[name]}")
            return getattr(module, name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted([*vars(importlib.import_module(package)), *public])

    return __getattr__, __dir__
