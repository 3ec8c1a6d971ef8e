from keras_snp.pruning.bench import compare_pruned
from tests.helpers import TestCase
from tests.helpers import tiny_cct
from tests.pruning.planted import planted_snp_result


class BenchTest(TestCase):
    def test_compare_pruned(self):
        model = tiny_cct()
        result = planted_snp_result(model, empty_fraction=0.5, seed=1)
        report = compare_pruned(model, result, batch_size=4, steps=1, rounds=1)
        self.assertLess(report["max_abs_difference"], 1e-5)
        self.assertLess(report["params_after"], report["params_before"])
        self.assertLess(report["flops_after"], report["flops_before"])
