import numpy as np

from keras_snp.run.prune_stage import accuracy
from keras_snp.run.prune_stage import correctness
from tests.helpers import TestCase


class _Fixed:
    """predict_on_batch returns the batch itself as logits."""

    def predict_on_batch(self, x):
        return np.asarray(x)


class CorrectnessTest(TestCase):
    def test_per_example_hits_in_order(self):
        logits = np.array([[2, 1], [0, 3], [5, 0], [1, 4]], "float32")
        labels = np.array([0, 0, 0, 1])
        batches = [
            (logits[:2], labels[:2]),
            (logits[2:], np.eye(2)[labels[2:]]),
        ]  # int, one-hot
        hits = correctness(_Fixed(), batches)
        self.assertEqual(hits.tolist(), [True, False, True, True])
        self.assertEqual(accuracy(_Fixed(), batches), 0.75)
        with self.assertRaisesRegex(ValueError, "no batch"):
            correctness(_Fixed(), [])
