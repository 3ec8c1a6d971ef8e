"""The TensorFlow-free core: model, data, SNP, heads, pruning on JAX.

Where TensorFlow is absent (CI's no-TF environment) and the backend is JAX,
the checks run in this process. Where TensorFlow is importable, they run
once in a subprocess with `KERAS_BACKEND=jax` and `sys.modules["tensorflow"]
= None`, which makes every `import tensorflow` fail as if it were not
installed. Each test then asserts on its part of the subprocess's report.
"""

import importlib
import json
import os
import pkgutil
import subprocess
import sys
import tempfile
import unittest

import numpy as np
import pytest

# The whole core on JAX: .ci/run runs it in its no-TF environment and at
# the highest Keras, not again at the lowest.
pytestmark = pytest.mark.slow

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _tf_available():
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except ValueError:
        return False


def _import_all():
    import keras_snp

    failures = {}
    names = [
        m.name for m in pkgutil.walk_packages(keras_snp.__path__, "keras_snp.")
    ]
    for name in ["keras_snp"] + names:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 (reported, then asserted)
            failures[name] = f"{type(error).__name__}: {error}"
    return {"modules": len(names) + 1, "failures": failures}


def _tiny_cct():
    from keras_snp.models import build_cct

    return build_cct(
        "cct_2_3x2",
        num_classes=3,
        image_size=16,
        num_layers=2,
        num_heads=2,
        embed_dim=16,
        mlp_ratio=2,
        num_convs=1,
        intermediate_dim=8,
    )


def _train_and_save(workdir):
    import keras

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (24, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 3, 24)
    model = _tiny_cct()
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [np.array(w) for w in model.get_weights()]
    history = model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    changed = sum(
        not np.allclose(a, np.array(b))
        for a, b in zip(before, model.get_weights())
    )
    path = os.path.join(workdir, "tiny.keras")
    model.save(path)
    loaded = keras.models.load_model(path)
    diff = np.abs(
        np.asarray(model.predict(images, verbose=0))
        - np.asarray(loaded.predict(images, verbose=0))
    ).max()
    return model, {
        "loss": float(history.history["loss"][-1]),
        "weights_changed": int(changed),
        "weights": len(before),
        "reload_max_diff": float(diff),
        "loaded_class": type(loaded.get_layer("encoder_1_mha")).__name__,
    }


def _data_snp_heads_pruning(model):
    from keras_snp import data
    from keras_snp import heads
    from keras_snp import pruning
    from keras_snp import snp

    splits = data.load("synthetic", 16, 8, num_classes=3, examples_per_class=8)
    train_type = type(splits.train).__name__
    images, labels = next(iter(splits.train))
    # The default taps, plus what ANDC's masks read and write.
    taps = [t.name for t in snp.taps(model)]
    taps += [t for t in pruning.pruning_taps(model, "all") if t not in taps]
    result = snp.compute_snp(
        model,
        splits.train,
        splits.validation,
        taps=taps,
        epochs=1,
        batch_size=8,
        verbose=0,
    )
    summary = result.summary()
    tap = result.taps["encoder_1_mha"]
    report = heads.analyze_heads(result, null_samples=5, ablation=False)
    pruned = pruning.prune(model, result, scope="all")
    small = pruning.shrink(pruning.strip(pruned))
    x = np.asarray(images)
    diff = np.abs(
        np.asarray(pruned.predict(x, verbose=0))
        - np.asarray(small.predict(x, verbose=0))
    ).max()
    return {
        "train_type": train_type,
        "images_type": type(images).__name__,
        "batch_shape": list(np.shape(images)),
        "label_shape": list(np.shape(labels)),
        "taps": sorted(result.taps),
        "V_shape": list(tap.V.shape),
        "V_finite": bool(np.isfinite(tap.V).all()),
        "summary_taps": len(summary["taps"]),
        "heads_type": type(report).__name__,
        "params": [
            model.count_params(),
            pruned.count_params(),
            small.count_params(),
        ],
        "shrink_max_diff": float(diff),
    }


def _clusters():
    from keras_snp.snp import clusters

    V = np.zeros((4, 4), "float32")
    V[:2, :2] = 1.0
    V[3, 3] = 0.5
    V[2, 0] = 0.4
    stats = clusters.node_stats(V, 0.3)
    return {
        "diag": list(stats.diag),
        "clusters": [list(c) for c in stats.clusters],
        "noise": int(stats.noise),
    }


def _tf_only_features_fail_clearly(model, workdir):
    """tfds, SavedModel and TensorBoard: a one-line `UsageError` each."""
    from keras_snp import data
    from keras_snp.run import export
    from keras_snp.run import tensorboard
    from keras_snp.utils import UsageError

    calls = {
        "tfds": lambda: data.load("cifar100", 32, 8),
        "saved_model": lambda: export.export_saved_model(
            model, os.path.join(workdir, "saved_model")
        ),
    }
    messages = {}
    for name, call in calls.items():
        try:
            call()
            messages[name] = None
        except UsageError as error:
            messages[name] = str(error)
    # TensorBoard is optional: writes are skipped with one warning.
    skipped = tensorboard.write_scalars(
        os.path.join(workdir, "logs"), {"loss": 1.0}
    )
    messages["tensorboard_skipped"] = skipped is None and not os.path.exists(
        os.path.join(workdir, "logs")
    )
    return messages


def _train_script(workdir):
    """`scripts/train.py` through every stage, on JAX without TensorFlow."""
    from keras_snp.cli import guarded
    from keras_snp.cli.train import train_main

    status = guarded(
        train_main,
        [
            "--dataset",
            "synthetic",
            "--variant",
            "cct_2_3x2",
            "--image-size",
            "16",
            "--examples-per-class",
            "8",
            "--num-classes",
            "3",
            "--batch-size",
            "8",
            "--epochs",
            "1",
            "--output-dir",
            workdir,
            "--run-name",
            "jax",
            "--null-samples",
            "3",
            "--readout-epochs",
            "1",
            "--fine-tune-epochs",
            "0",  # the JAX fine-tune: tests/pruning/fine_tuning_test.py
            "--analyse-anyway",  # one epoch of 24 images may not learn
            "--quiet",
        ],
    )
    run = os.path.join(workdir, "jax")
    files = sorted(
        os.path.relpath(os.path.join(root, name), run)
        for root, _, names in os.walk(run)
        for name in names
    )
    with open(os.path.join(run, "run.json")) as f:
        stages = sorted(json.load(f)["stages"])
    return {"status": status, "files": files, "stages": stages}


def run_checks():
    """Runs every check; returns a JSON-able report (used by the tests)."""
    import keras

    report = {
        "backend": keras.backend.backend(),
        "tensorflow_loaded": "tensorflow" in sys.modules
        and sys.modules["tensorflow"] is not None,
    }
    report["imports"] = _import_all()
    with tempfile.TemporaryDirectory() as workdir:
        model, report["train"] = _train_and_save(workdir)
        report["tf_only"] = _tf_only_features_fail_clearly(model, workdir)
        report["script"] = _train_script(workdir)
    report["pipeline"] = _data_snp_heads_pruning(model)
    report["clusters"] = _clusters()
    report["tensorflow_loaded_after"] = (
        "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None
    )
    return report


_REPORT = None
_CHILD = """
import json, os, sys
sys.modules["tensorflow"] = None  # any `import tensorflow` now fails
os.environ["KERAS_BACKEND"] = "jax"
sys.path.insert(0, {root!r})
from tests.test_no_tensorflow import run_checks
print("REPORT=" + json.dumps(run_checks()))
"""


def report():
    """The checks' report: in process without TF, else from a subprocess."""
    global _REPORT
    if _REPORT is None:
        import keras

        if not _tf_available() and keras.backend.backend() == "jax":
            _REPORT = run_checks()
        else:
            env = dict(
                os.environ,
                KERAS_BACKEND="jax",
                TF_CPP_MIN_LOG_LEVEL="3",
                JAX_PLATFORMS="cpu",
            )
            done = subprocess.run(
                [sys.executable, "-c", _CHILD.format(root=ROOT)],
                capture_output=True,
                text=True,
                env=env,
                timeout=600,
                cwd=ROOT,
            )
            lines = [
                x for x in done.stdout.splitlines() if x.startswith("REPORT=")
            ]
            if done.returncode or not lines:
                raise AssertionError(
                    "no-TF subprocess failed:\n"
                    + done.stdout[-3000:]
                    + done.stderr[-5000:]
                )
            _REPORT = json.loads(lines[-1][len("REPORT=") :])
    return _REPORT


class NoTensorFlowTest(unittest.TestCase):
    def test_backend_is_jax_and_tensorflow_never_loaded(self):
        r = report()
        self.assertEqual(r["backend"], "jax")
        self.assertFalse(r["tensorflow_loaded"])
        self.assertFalse(r["tensorflow_loaded_after"])

    def test_every_module_imports(self):
        r = report()["imports"]
        self.assertGreater(r["modules"], 10)
        self.assertEqual(r["failures"], {})

    def test_train_step_and_keras_round_trip(self):
        r = report()["train"]
        self.assertTrue(np.isfinite(r["loss"]))
        self.assertEqual(r["weights_changed"], r["weights"])
        self.assertLess(r["reload_max_diff"], 1e-5)
        self.assertEqual(r["loaded_class"], "PerHeadAttention")

    def test_data_is_numpy_without_tensorflow(self):
        r = report()["pipeline"]
        self.assertEqual(r["train_type"], "NumpySplit")
        self.assertEqual(r["images_type"], "ndarray")
        self.assertEqual(r["batch_shape"], [8, 16, 16, 3])
        self.assertEqual(r["label_shape"], [8, 3])

    def test_snp_heads_and_pruning_run(self):
        r = report()["pipeline"]
        self.assertIn("encoder_2_ff_hidden", r["taps"])
        self.assertEqual(r["V_shape"], [16, 3, 3])
        self.assertTrue(r["V_finite"])
        self.assertEqual(r["summary_taps"], len(r["taps"]))
        self.assertEqual(r["heads_type"], "HeadsReport")
        full, masked, small = r["params"]
        self.assertGreater(masked, full)  # + the non-trainable masks
        self.assertLessEqual(small, full)
        self.assertLess(r["shrink_max_diff"], 1e-4)

    def test_tensorflow_features_fail_with_one_clear_line(self):
        messages = report()["tf_only"]
        self.assertTrue(messages.pop("tensorboard_skipped"))
        self.assertEqual(sorted(messages), ["saved_model", "tfds"])
        for name, message in messages.items():
            self.assertIsNotNone(message, name)
            self.assertIn(
                "TensorFlow", message.replace("tensorflow", "TensorFlow")
            )
            self.assertNotIn("\n", message)

    def test_train_script_runs_every_stage(self):
        r = report()["script"]
        self.assertEqual(r["status"], 0)
        self.assertEqual(
            r["stages"],
            ["export", "heads", "pages", "prune", "snp", "train"],
        )
        for path in (
            "model.keras",
            "snp/snp.npz",
            "heads/heads.json",
            "pruned/model.keras",
            "pruned/pruning.json",
            "pages/index.html",
        ):
            self.assertIn(path, r["files"])
        self.assertFalse(any(p.startswith("saved_model") for p in r["files"]))

    def test_clusters_match_hand_worked_values(self):
        r = report()["clusters"]
        # B: the 2x2 block {0, 1}, entry (2, 0) 0.4 > 0.3, and (3, 3) 0.5.
        self.assertEqual(r["diag"], [0, 1, 3])
        self.assertEqual(r["clusters"], [[0, 1], [3]])
        self.assertEqual(r["noise"], 1.0)


if __name__ == "__main__":
    unittest.main()
