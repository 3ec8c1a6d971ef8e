"""The fine-tune study: the lab's classifier mask against a per-node loop,
the points it runs and skips, and the report's reading of its files."""

import os

import keras
import numpy as np
import pytest

from keras_snp import data as data_lib
from keras_snp.pruning import fine_tune_study as study_lib
from keras_snp.pruning.andc import connection_masks
from keras_snp.pruning.fine_tuning import FineTune
from keras_snp.pruning.scoring import correctness
from keras_snp.reproduce.analysis import PRUNING_MARGIN
from keras_snp.reproduce.analysis import non_inferiority
from keras_snp.reproduce.fine_tune_analysis import fine_tune_study
from keras_snp.reproduce.fine_tune_analysis import study_lines
from keras_snp.snp.clusters import diagonal_mask
from keras_snp.utils import write_json
from tests.helpers import tiny_cct
from tests.pruning.planted import planted_snp_result

K = 5


@pytest.fixture(scope="module")
def setting():
    keras.utils.set_random_seed(0)
    model = tiny_cct(num_classes=K)
    splits = data_lib.load(
        "synthetic",
        16,
        8,
        recipe="light",
        num_classes=K,
        examples_per_class=4,
        backend_format="numpy",
    )
    return model, splits


def test_classifier_own_V_matches_a_per_node_loop(setting):
    model, splits = setting
    name, V = study_lib.classifier_own_V(model, splits.validation)
    assert name == model.layers[-1].name
    pooled = keras.Model(model.inputs, model.get_layer("sequence_pool").output)
    kernel = keras.ops.convert_to_numpy(model.get_layer(name).kernel)
    acts, labels = [], []
    for images, y in splits.validation:
        acts.append(keras.ops.convert_to_numpy(pooled(images, training=False)))
        labels.append(np.argmax(y, -1) if np.ndim(y) == 2 else np.asarray(y))
    acts, labels = np.concatenate(acts), np.concatenate(labels)
    expected = np.zeros((acts.shape[1], K, K))
    for d in range(acts.shape[1]):
        for i in range(K):
            for c in range(K):
                rows = acts[labels == i, d]
                expected[d, i, c] = np.mean(rows * kernel[d, c])
    np.testing.assert_allclose(V, expected, rtol=1e-4, atol=1e-6)
    masks = study_lib.classifier_own_masks(model, splits.validation, 0.3)
    np.testing.assert_array_equal(masks[name], diagonal_mask(expected, 0.3))


def test_study_runs_every_point_once_and_skips_done(setting):
    model, splits = setting
    result = planted_snp_result(model, seed=0)
    masks = connection_masks(model, result, 0.3, "readout+ff")
    own = study_lib.classifier_own_masks(model, splits.validation, 0.3)
    rows = study_lib.row_masks(model, masks, own)
    assert list(rows) == list(study_lib.ROWS)
    classifier = model.layers[-1].name
    # the lab row differs from ours in the classifier only
    for layer, mask in rows["andc_lab_classifier"].items():
        if layer != classifier:
            np.testing.assert_array_equal(mask, masks[layer])
    # two rows keep the test short; the order is lengths, seeds, rows
    rows = {k: rows[k] for k in ("unpruned", "andc_lab_classifier")}
    test = list(splits.test)
    seen = []

    def run(epochs, **kwargs):
        tune = FineTune(epochs=1, recipe="light", steps_per_epoch=1)
        return study_lib.study(
            model,
            rows,
            splits.train,
            test,
            tune,
            epochs=epochs,
            seeds=(0, 1),
            **kwargs,
        )

    hits = run(
        (1, 0),
        on_point=lambda key, h, record: seen.append((key, record["steps"])),
    )
    expected = [
        study_lib.point_key(row, length, seed)
        for length in (0, 1)
        for seed in (0, 1)
        for row in rows
    ]
    assert list(hits) == expected == [k for k, _ in seen]
    steps = dict(seen)
    assert steps["andc_lab_classifier|1|0"] == steps["unpruned|0|1"] == 1
    # zero epochs: the unpruned row is the trained model itself
    np.testing.assert_array_equal(
        hits["unpruned|0|0"], correctness(model, test)
    )
    assert run((0, 1), done=set(hits)) == {}


def _planted_run(tmp_path, hits, epochs):
    pruned = tmp_path / "pruned"
    pruned.mkdir()
    np.savez(pruned / study_lib.STUDY_PREDICTIONS, **hits)
    write_json(
        str(pruned / study_lib.STUDY_JSON),
        {
            "fine_tune": {"recipe": "light", "epochs": 1},
            "epochs": epochs,
            "seeds": [0, 1, 2],
            "rows": {"andc": {"dilution": 0.5}},
            "predictions": study_lib.STUDY_PREDICTIONS,
        },
    )
    return str(tmp_path)


def test_report_reads_bands_differences_and_missing_lengths(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    hits = {}
    for seed in (0, 1, 2):
        base = rng.random(n) < 0.6
        hits[study_lib.point_key("unpruned", 1, seed)] = base
        hits[study_lib.point_key("andc", 1, seed)] = base  # identical
        worse = base.copy()
        worse[: n // 4] = False  # about 15 points below
        hits[study_lib.point_key("magnitude", 1, seed)] = worse
    hits[study_lib.point_key("unpruned", 5, 0)] = hits["unpruned|1|0"]
    hits[study_lib.point_key("andc", 5, 0)] = hits["andc|1|0"]
    run = _planted_run(tmp_path, hits, [1, 5, 20])
    study = fine_tune_study(
        run, 200, 0, PRUNING_MARGIN, verdict_fn=non_inferiority
    )
    rows = {(r["row"], r["epochs"]): r for r in study["rows"]}
    assert study["epochs"] == [1, 5]
    assert study["level"] == pytest.approx(1 - 0.05 / 2)
    andc = rows[("andc", 1)]
    assert andc["seeds"] == [0, 1, 2]
    assert andc["difference"]["difference"] == 0.0
    assert andc["verdict"] == "reproduced"
    assert rows[("magnitude", 1)]["verdict"] == "not reproduced"
    accuracies = [hits[f"unpruned|1|{s}"].mean() for s in (0, 1, 2)]
    assert rows[("unpruned", 1)]["min"] == pytest.approx(min(accuracies))
    assert rows[("unpruned", 1)]["max"] == pytest.approx(max(accuracies))
    assert "difference" not in rows[("unpruned", 1)]
    assert ("magnitude", 5) not in rows
    text = "\n".join(study_lines(study))
    assert "Lengths planned but not run: [20]" in text
    assert "97.5% CI" in text
    assert (
        fine_tune_study(
            os.path.join(run, "missing"), 10, 0, 0.01, non_inferiority
        )
        is None
    )
    assert "not measured" in study_lines(None)[0]
