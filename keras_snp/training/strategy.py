"""Where training runs: one device, several GPUs, several CPUs, machines.

On TensorFlow: `tf.distribute.MirroredStrategy` over every visible GPU (or
over N logical CPUs), `MultiWorkerMirroredStrategy` from `TF_CONFIG`, or
`OneDeviceStrategy`. On JAX: `keras.distribution.DataParallel`.
TensorFlow is imported inside functions, so this module imports under JAX.
"""

import contextlib
import dataclasses
import json
import logging
import os

import keras

from keras_snp.utils import UsageError

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "mirrored", "multi_worker", "one_device", "data_parallel")

# The Keras releases whose private trainer functions the two workarounds
# below replace (keras-team/keras#20585); pyproject.toml declares the same
# range, and tests/training/keras_patches_test.py fails when the patched
# functions change.
PATCHED_KERAS = ((3, 12), (3, 16))


def keras_is_patchable(version=None):
    """Whether `version` (default: the installed Keras) is in
    `PATCHED_KERAS`, i.e. the workarounds were checked against it."""
    version = version or keras.version()
    release = tuple(int(p) for p in version.split(".")[:2])
    low, high = PATCHED_KERAS
    return low <= release < high


@dataclasses.dataclass
class Placement:
    """A chosen distribution: its scope, replica count and worker role."""

    kind: str
    num_replicas: int
    devices: list
    strategy: object = None
    is_chief: bool = True
    worker_index: int = 0

    def scope(self):
        if self.strategy is not None:
            return self.strategy.scope()
        return contextlib.nullcontext()

    def prepare_model(self, model):
        """Fixes what `model.fit` needs under this placement (call after
        `compile`, before `fit`/`evaluate`)."""
        if self.kind not in ("multi_worker", "mirrored"):
            return model
        if not keras_is_patchable():
            logger.warning(
                "Keras %s is outside the tested range %s: the workarounds "
                "for keras-team/keras#20585 are not applied.",
                keras.version(),
                PATCHED_KERAS,
            )
            return model
        _patch_symbolic_build(model, self.strategy)
        if self.kind == "multi_worker":
            _patch_scalar_reduce()
        return model

    def to_dict(self):
        return {
            "kind": self.kind,
            "replicas": self.num_replicas,
            "devices": [str(d) for d in self.devices],
            "is_chief": self.is_chief,
            "worker_index": self.worker_index,
        }


def split_cpu(cpu_replicas):
    """Splits the CPU into `cpu_replicas` logical devices (TensorFlow).

    Must run before TensorFlow initialises its devices; it checks that the
    split took, because a strategy over a missing `/cpu:1` hangs `fit`.
    """
    import tensorflow as tf

    if cpu_replicas < 1:
        raise UsageError(
            "`cpu_replicas` must be >= 1. "
            f"Received: cpu_replicas={cpu_replicas}"
        )
    cpu = tf.config.list_physical_devices("CPU")[0]
    config = [tf.config.LogicalDeviceConfiguration()] * cpu_replicas
    try:
        tf.config.set_logical_device_configuration(cpu, config)
    except RuntimeError as error:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing != cpu_replicas:
            raise UsageError(
                f"Cannot split the CPU into {cpu_replicas} devices: "
                "TensorFlow was initialised first; call `split_cpu` (or "
                "`make_placement` with `cpu_replicas`) before anything "
                f"touches TensorFlow. Received: cpu_replicas={cpu_replicas}"
            ) from error
    found = len(tf.config.list_logical_devices("CPU"))
    if found != cpu_replicas:
        raise UsageError(
            f"Asked for {cpu_replicas} CPU replicas, TensorFlow shows {found}."
        )


def _tf_config():
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        return None
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise UsageError(f"TF_CONFIG is not valid JSON: {error}") from error


def _multi_worker_role(tf_config):
    task = (tf_config or {}).get("task", {})
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    cluster = (tf_config or {}).get("cluster", {})
    chief_exists = bool(cluster.get("chief"))
    is_chief = kind == "chief" or (
        kind == "worker" and index == 0 and not chief_exists
    )
    return is_chief, index


def make_placement(strategy="auto", cpu_replicas=None):
    """The `Placement` for a `strategy` name (one of `STRATEGIES`) on the
    current backend; `cpu_replicas` splits the CPU (TensorFlow)."""
    if strategy not in STRATEGIES:
        raise UsageError(
            f"`strategy` must be one of {STRATEGIES}. "
            f"Received: strategy={strategy!r}"
        )
    backend = keras.backend.backend()
    if backend == "jax":
        return _jax_placement(strategy)
    if backend != "tensorflow":
        if strategy not in ("auto", "one_device"):
            raise UsageError(
                "`strategy` must be 'auto' or 'one_device' on the "
                f"{backend} backend (the others need tensorflow or jax). "
                f"Received: strategy={strategy!r}"
            )
        return Placement("single", 1, ["default"])
    return _tf_placement(strategy, cpu_replicas)


def _tf_placement(name, cpu_replicas):
    import tensorflow as tf

    if cpu_replicas and name != "multi_worker":
        split_cpu(cpu_replicas)
    if name == "multi_worker":
        tf_config = _tf_config()
        if tf_config is None:
            raise UsageError(
                "`strategy` 'multi_worker' needs the TF_CONFIG environment "
                "variable: see the README, 'Several machines'. "
                f"Received: strategy={name!r}"
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        is_chief, index = _multi_worker_role(tf_config)
        return Placement(
            "multi_worker",
            strategy.num_replicas_in_sync,
            list(strategy.extended.worker_devices),
            strategy,
            is_chief,
            index,
        )
    gpus = tf.config.list_logical_devices("GPU")
    cpus = tf.config.list_logical_devices("CPU")
    if name == "one_device":
        device = (gpus or cpus)[0].name
        strategy = tf.distribute.OneDeviceStrategy(device)
        return Placement("one_device", 1, [device], strategy)
    if name == "data_parallel":
        raise UsageError(
            "`strategy` 'data_parallel' is the JAX backend's: set "
            "KERAS_BACKEND=jax, or use 'mirrored' on TensorFlow. "
            f"Received: strategy={name!r}"
        )
    devices = [d.name for d in gpus] or [d.name for d in cpus]
    if name == "auto" and len(devices) == 1:
        return Placement("single", 1, devices)
    strategy = tf.distribute.MirroredStrategy(devices)
    return Placement(
        "mirrored", strategy.num_replicas_in_sync, devices, strategy
    )


def _jax_placement(name):
    if name in ("mirrored", "multi_worker"):
        raise UsageError(
            f"`strategy` {name!r} is TensorFlow's: on JAX use "
            "'data_parallel' (or 'auto'); for several hosts call "
            f"keras.distribution.initialize. Received: strategy={name!r}"
        )
    devices = keras.distribution.list_devices()
    if name == "one_device" or len(devices) == 1:
        return Placement("single", 1, devices[:1])
    keras.distribution.set_distribution(
        keras.distribution.DataParallel(devices=devices)
    )
    return Placement("data_parallel", len(devices), devices)


def _patch_symbolic_build(model, strategy):
    """Keras 3 `fit` under `MultiWorkerMirroredStrategy` crashes before the
    first step (keras-team/keras#20585): `_maybe_symbolic_build` averages
    the first distributed batch with `strategy.reduce`, which the
    collective all-reduce cannot do on a nest of `PerReplica` values, and
    which fails under `MirroredStrategy` too when a partial batch is split
    unevenly (21 / 20 images). The build needs only shapes, so this takes
    each value's first local replica instead."""
    import tensorflow as tf

    def local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return strategy.experimental_local_results(value)[0]
        return value

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, it in iterator:
                data_batch = tf.nest.map_structure(local, next(it))
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = maybe_symbolic_build


def _patch_scalar_reduce():
    """Keras 3's train/test step under `MultiWorkerMirroredStrategy`
    averages each scalar metric with `strategy.reduce("MEAN", v, axis=0)`,
    which fails on a rank-0 value (keras-team/keras#20585). Scalars are
    reduced with `axis=None` here; everything else goes to Keras."""
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica
    if getattr(original, "keras_snp_patch", False):
        return

    def reduce_per_replica(values, strategy, reduction="auto"):
        if reduction not in (
            "auto",
            "mean",
        ) or not tf_trainer._collective_all_reduce_multi_worker(strategy):
            return original(values, strategy, reduction)

        def mean(value):
            first = strategy.experimental_local_results(value)[0]
            rank = tf.convert_to_tensor(first).shape.rank
            return strategy.reduce("MEAN", value, axis=0 if rank else None)

        return tf.nest.map_structure(mean, values)

    reduce_per_replica.keras_snp_patch = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def check_batch_size(global_batch_size, placement):
    if global_batch_size < placement.num_replicas:
        raise UsageError(
            "`global_batch_size` must be at least the number of replicas "
            f"({placement.num_replicas}), so that each gets an example. "
            f"Received: global_batch_size={global_batch_size}"
        )


def default_precision():
    """`mixed_bfloat16` on a GPU with bfloat16 (JAX: any GPU; TF: compute
    capability 8.0 and up, else `mixed_float16`), `float32` on a CPU."""
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return "mixed_bfloat16" if jax.default_backend() == "gpu" else "float32"
    if backend == "tensorflow":
        import tensorflow as tf

        gpus = tf.config.list_physical_devices("GPU")
        if not gpus:
            return "float32"
        details = tf.config.experimental.get_device_details(gpus[0])
        # bfloat16 from Ampere (compute capability 8.0) on: no loss scaling.
        if tuple(details.get("compute_capability") or (0, 0)) >= (8, 0):
            return "mixed_bfloat16"
        return "mixed_float16"
    return "float32"
