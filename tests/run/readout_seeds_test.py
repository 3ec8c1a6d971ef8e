"""`--readout-seeds N`: the readouts solved N times, their accuracies kept
for claim 1's interval."""

import os

from keras_snp.run.config import RunConfig
from keras_snp.run.pipeline import measure_snp
from keras_snp.utils import read_json
from tests.helpers import tiny_cct
from tests.snp.toy import toy_batches


def test_extra_readout_seeds_are_solved_and_written(tmp_path):
    config = RunConfig(readout_seeds=3, readout_max_passes=20, verbose=0)
    result = measure_snp(
        tiny_cct(),
        toy_batches(60, seed=1, onehot=True),
        toy_batches(30, seed=2),
        config,
        list("abcde"),
        str(tmp_path / "snp"),
        str(tmp_path / "logs"),
        taps=["encoder_1_mha", "encoder_2_out"],
    )
    seeds = read_json(os.path.join(tmp_path, "snp", "readout_seeds.json"))
    assert seeds["seeds"] == [0, 1, 2]
    for name, tap in result.taps.items():
        accuracies = seeds["taps"][name]
        assert len(accuracies) == 3 and accuracies[0] == tap.readout_accuracy
        assert all(0.0 <= a <= 1.0 for a in accuracies)
