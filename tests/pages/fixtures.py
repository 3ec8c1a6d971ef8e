"""One tiny CCT, a few random images, an SNP result with random readout
weights (the pages do not need an optimal readout), a head report and the
site, built once per test module."""

import os

import keras
import numpy as np

from keras_snp.snp import fields
from keras_snp.snp.result import SNPResult
from keras_snp.snp.result import TapResult
from keras_snp.snp.taps import resolve_taps
from keras_snp.snp.taps import tap_model
from tests.helpers import tiny_cct

K = 4
NAMES = ["rose", "tulip", "cat", "dog"]


def images(n=48, batch=16, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 255, size=(n, 16, 16, 3)).astype("float32")
    y = np.arange(n) % K
    onehot = np.eye(K, dtype="float32")[y]
    return (
        x,
        y,
        [(x[i : i + batch], onehot[i : i + batch]) for i in range(0, n, batch)],
    )


def model_with_weights(seed=1):
    keras.utils.set_random_seed(seed)
    model = tiny_cct(num_classes=K)
    rng = np.random.default_rng(seed)
    model.set_weights(
        [
            rng.normal(0, 0.5, w.shape).astype("float32")
            for w in model.get_weights()
        ]
    )
    return model


def activations(model, x, names):
    specs = resolve_taps(model, names)
    outs = tap_model(model, specs).predict(x, verbose=0)
    outs = outs if isinstance(outs, list) else [outs]
    return {s.name: np.asarray(a) for s, a in zip(specs, outs)}, specs


def snp_result(model, x, y, seed=2, with_W=True):
    """Random readouts `W`; `V` from them, as the engine computes it."""
    rng = np.random.default_rng(seed)
    specs = resolve_taps(model, None)
    acts, _ = activations(model, x, [s.name for s in specs])
    taps = {}
    for spec in specs:
        A = acts[spec.name]
        W = rng.normal(size=(K, spec.tokens, spec.nodes)).astype("float32")
        acc = fields.SNPAccumulator(W)
        acc.update(A, y)
        taps[spec.name] = TapResult(
            name=spec.name,
            kind=spec.kind,
            encoder=spec.encoder,
            V=acc.result(),
            head=spec.head,
            tokens=spec.tokens,
            readout_accuracy=0.5,
            W=W if with_W else None,
        )
    return SNPResult(taps=taps, theta=0.3, label_names=NAMES)


def run_folder(path, model, result, batches):
    """`path/snp`, `path/heads` of `result` (head ablation on `batches`)."""
    from keras_snp.heads import analyze_heads
    from keras_snp.heads import write_heads_report

    result.save(os.path.join(path, "snp"))
    report = analyze_heads(
        result, model, batches, label_names=NAMES, null_samples=10
    )
    write_heads_report(report, os.path.join(path, "heads"))
    return report
