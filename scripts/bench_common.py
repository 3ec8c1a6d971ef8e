"""Helpers shared by the benchmark scripts: versions, device, memory.

Nothing here imports TensorFlow at module level, so the benchmarks run on
the JAX backend without it.
"""

import importlib
import platform
import resource
import sys

import keras


def backend_module():
    """The backend's own package (`jax`, `tensorflow`, `torch`)."""
    return importlib.import_module(keras.backend.backend())


def versions():
    """Versions of Python, Keras, the backend and numpy."""
    import numpy as np

    found = {
        "python": platform.python_version(),
        "keras": keras.__version__,
        "numpy": np.__version__,
    }
    name = keras.backend.backend()
    try:
        found[name] = backend_module().__version__
    except ImportError:
        found[name] = None
    return found


def device_name():
    """A short description of the device the backend computes on."""
    name = keras.backend.backend()
    if name == "jax":
        import jax

        device = jax.local_devices()[0]
        return f"{device.platform}:{device.device_kind}"
    if name == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_logical_devices("GPU")
        if gpus:
            details = tf.config.experimental.get_device_details(
                tf.config.list_physical_devices("GPU")[0]
            )
            return f"gpu:{details.get('device_name', gpus[0].name)}"
    if name == "torch":
        import torch

        if torch.cuda.is_available():
            return f"gpu:{torch.cuda.get_device_name(0)}"
    return f"cpu:{platform.processor() or platform.machine()}"


def peak_host_mb():
    """Peak resident memory of this process, MiB (ru_maxrss)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes vs KiB
    return round(peak * scale / 2**20, 1)


def peak_device_mb():
    """Peak accelerator memory in use, MiB; None on a CPU."""
    name = keras.backend.backend()
    try:
        if name == "jax":
            import jax

            stats = jax.local_devices()[0].memory_stats() or {}
            peak = stats.get("peak_bytes_in_use")
        elif name == "tensorflow":
            import tensorflow as tf

            if not tf.config.list_physical_devices("GPU"):
                return None
            peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
        elif name == "torch":
            import torch

            if not torch.cuda.is_available():
                return None
            peak = torch.cuda.max_memory_allocated()
        else:
            return None
    except (RuntimeError, ValueError, AttributeError):
        return None
    return None if peak is None else round(peak / 2**20, 1)


def reset_device_peak():
    """Resets the peak counters where the backend allows it."""
    name = keras.backend.backend()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            if tf.config.list_physical_devices("GPU"):
                tf.config.experimental.reset_memory_stats("GPU:0")
        elif name == "torch":
            import torch

            if torch.cuda.is_available():
                torch.cuda.reset_peak_memory_stats()
    except (RuntimeError, ValueError):
        pass
