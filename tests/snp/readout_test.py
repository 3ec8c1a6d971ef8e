import keras
import numpy as np

from keras_snp.snp.engine import SNPEngine
from keras_snp.snp.optimizer import CoupledSGD
from keras_snp.snp.readout import ReadoutConfig
from keras_snp.snp.readout import make_optimizer
from keras_snp.snp.taps import resolve_taps
from tests.helpers import TestCase

K = 3


def torch_sgd(w, grads, lrs, momentum, l2, nesterov=True):
    """PyTorch's SGD (dampening 0) by hand, one gradient per step."""
    w, buf = np.array(w, "float64"), None
    for g, lr in zip(grads, lrs):
        g = np.asarray(g, "float64") + l2 * w
        buf = g.copy() if buf is None else momentum * buf + g
        w = w - lr * ((g + momentum * buf) if nesterov else buf)
    return w


def flat_model():
    """Images (2, 2, 3) -> Flatten (the rank-2 tap) -> Dense(K)."""
    return keras.Sequential(
        [
            keras.Input((2, 2, 3)),
            keras.layers.Flatten(name="flat"),
            keras.layers.Dense(K, name="head"),
        ]
    )


def softmax_ce_grad(x, w, y):
    """Gradient of the mean sparse cross-entropy of `x @ w` wrt `w`."""
    logits = x @ w
    p = np.exp(logits - logits.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    p[np.arange(len(y)), y] -= 1.0
    return x.T @ p / len(y)


class CoupledSGDTest(TestCase):
    def test_matches_hand_computed_steps(self):
        w0 = np.array([1.0, -2.0, 0.5], "float32")
        grads = [
            np.array([0.1, 0.2, -0.3]),
            np.array([-0.2, 0.05, 0.4]),
            np.array([0.3, -0.1, 0.0]),
        ]
        lrs = [0.1, 0.1, 0.05]  # the rate changes between "epochs"
        var = keras.Variable(w0)
        opt = CoupledSGD(
            learning_rate=0.1, momentum=0.9, nesterov=True, l2=0.01
        )
        for g, lr in zip(grads, lrs):
            opt.learning_rate = lr
            opt.apply([keras.ops.convert_to_tensor(g, "float32")], [var])
        expected = torch_sgd(w0, grads, lrs, momentum=0.9, l2=0.01)
        self.assertAllClose(var.numpy(), expected, atol=1e-6)
        # step 1 written out: g = grad + l2 * w, buf = g, w -= lr (g + mu g)
        g1 = grads[0] + 0.01 * w0
        self.assertAllClose(
            torch_sgd(w0, grads[:1], lrs[:1], 0.9, 0.01),
            w0 - 0.1 * 1.9 * g1,
            atol=1e-7,
        )

    def test_plain_momentum_and_no_l2(self):
        var = keras.Variable(np.array([2.0], "float32"))
        opt = CoupledSGD(learning_rate=0.5, momentum=0.5, nesterov=False)
        for _ in range(2):
            opt.apply([keras.ops.convert_to_tensor([1.0])], [var])
        # buf 1 then 1.5: w = 2 - 0.5 - 0.75
        self.assertAllClose(var.numpy(), [0.75])

    def test_coupled_is_stronger_than_decoupled(self):
        # A zero gradient: only the decay moves the weight.
        finals = {}
        for mode in ("coupled", "decoupled"):
            opt = make_optimizer(
                ReadoutConfig(
                    learning_rate=0.01,
                    momentum=0.975,
                    weight_decay=1e-3,
                    weight_decay_mode=mode,
                )
            )
            var = keras.Variable(np.array([1.0], "float32"))
            for _ in range(200):
                opt.apply([keras.ops.zeros((1,))], [var])
            finals[mode] = 1.0 - float(var.numpy()[0])
        self.assertIsInstance(make_optimizer(ReadoutConfig()), CoupledSGD)
        self.assertAllClose(
            finals["decoupled"], 1 - (1 - 1e-5) ** 200, rtol=1e-3
        )
        self.assertGreater(finals["coupled"], 20 * finals["decoupled"])

    def test_config_round_trip_and_errors(self):
        opt = CoupledSGD(learning_rate=0.2, momentum=0.5, nesterov=True, l2=0.1)
        again = CoupledSGD.from_config(opt.get_config())
        self.assertEqual(
            (again.momentum, again.nesterov, again.l2), (0.5, True, 0.1)
        )
        with self.assertRaisesRegex(ValueError, "`l2`.*Received"):
            CoupledSGD(l2=-1.0)
        with self.assertRaisesRegex(ValueError, "decoupled `weight_decay`"):
            CoupledSGD(weight_decay=0.1)
        with self.assertRaisesRegex(ValueError, "weight_decay_mode"):
            ReadoutConfig(weight_decay_mode="adamw").validate()


class _Recorder:
    """Re-iterable batches that note the optimizer's rate at each epoch."""

    def __init__(self, batches, engine):
        self.batches, self.engine, self.rates = batches, engine, []

    def __iter__(self):
        opt = self.engine.trainer.optimizer
        self.rates.append(float(keras.ops.convert_to_numpy(opt.learning_rate)))
        return iter(self.batches)


class ReadoutTrainingTest(TestCase):
    """`SNPEngine.train` against PyTorch's SGD written out in numpy."""

    def _engine(self, **overrides):
        settings = {
            "epochs": 2,
            "learning_rate": 0.5,
            "lr_decay": 0.5,
            "momentum": 0.9,
            "weight_decay": 0.01,
            "batch_size": 4,
            "flip": False,
            "shift": 0,
            "scale": None,
        }
        settings.update(overrides)
        model = flat_model()
        config = ReadoutConfig(**settings).validate()
        return SNPEngine(model, resolve_taps(model, ["flat"]), K, config)

    def test_rank2_tap_steps_match_torch_sgd(self):
        rng = np.random.default_rng(0)
        images = rng.normal(size=(10, 2, 2, 3)).astype("float32")
        labels = rng.integers(0, K, 10)
        # batches of 3 re-cut to 4: 4, 4 and a last partial batch of 2
        batches = [
            (images[i : i + 3], labels[i : i + 3]) for i in range(0, 10, 3)
        ]
        engine = self._engine()
        self.assertEqual(engine.specs[0].tokens, 1)
        data = _Recorder(batches, engine)
        engine.train(data, run_eagerly=True, verbose=0)
        # per-epoch decay: 0.5, then 0.5 * 0.5
        self.assertAllClose(data.rates, [0.5, 0.25])
        self.assertEqual(int(engine.trainer.optimizer.iterations), 6)
        # the same steps by hand (Nesterov, coupled L2, lr per epoch)
        x = images.reshape(10, 12).astype("float64")
        w, buf = np.zeros((12, K)), None
        for lr in (0.5, 0.25):
            for start in (0, 4, 8):
                xb, yb = x[start : start + 4], labels[start : start + 4]
                g = softmax_ce_grad(xb, w, yb) + 0.01 * w
                buf = g if buf is None else 0.9 * buf + g
                w = w - lr * (g + 0.9 * buf)
        kernel = keras.ops.convert_to_numpy(engine.readouts[0].kernel)
        self.assertAllClose(kernel, w, atol=1e-5)

    def test_partial_batch_is_trained_on(self):
        rng = np.random.default_rng(1)
        images = rng.normal(size=(9, 2, 2, 3)).astype("float32")
        labels = rng.integers(0, K, 9)
        full = self._engine(epochs=1)
        full.train([(images, labels)], run_eagerly=True, verbose=0)
        cut = self._engine(epochs=1)
        cut.train([(images[:8], labels[:8])], run_eagerly=True, verbose=0)
        self.assertEqual(int(full.trainer.optimizer.iterations), 3)
        self.assertEqual(int(cut.trainer.optimizer.iterations), 2)
        self.assertNotAllClose(
            keras.ops.convert_to_numpy(full.readouts[0].kernel),
            keras.ops.convert_to_numpy(cut.readouts[0].kernel),
        )
