"""`keras-snp analyze` on saved models that are not keras_snp CCTs."""

import json

import keras
import pytest

from keras_snp.cli import guarded
from keras_snp.cli.analyze import analyze_main
from keras_snp.sites import find_sites

# end-to-end (training, fine-tunes, saved models): run once in CI, at the
# highest Keras
pytestmark = pytest.mark.slow

DATA = [
    "--dataset",
    "synthetic",
    "--image-size",
    "16",
    "--num-classes",
    "4",
    "--examples-per-class",
    "12",
    "--readout-views",
    "1",
    "--null-samples",
    "5",
    "--quiet",
]


def accuracy_on_test_split(model):
    """The model's accuracy on the test split the command reads, computed
    here with plain numpy (the independent value)."""
    import numpy as np

    from keras_snp import data as data_lib

    splits = data_lib.load(
        "synthetic",
        16,
        100,
        recipe="none",
        seed=0,
        num_classes=4,
        examples_per_class=12,
    )
    hits = []
    for images, labels in splits.test:
        labels = np.asarray(labels)
        labels = labels.argmax(-1) if labels.ndim == 2 else labels
        logits = keras.ops.convert_to_numpy(model(np.asarray(images)))
        hits.append(logits.argmax(-1) == labels)
    return float(np.concatenate(hits).mean())


def patch_attention(classes=4):
    """A tiny ViT: 4x4 patches, one attention block, a GELU MLP."""
    images = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 4, strides=4, name="patches")(images)
    x = keras.layers.Reshape((16, 8))(x)
    y = keras.layers.MultiHeadAttention(2, 4, name="attention")(x, x)
    x = keras.layers.Add()([x, y])
    x = keras.layers.Dense(16, activation="gelu", name="mlp_hidden")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    return keras.Model(images, keras.layers.Dense(classes)(x), name="vit")


def small_vgg(classes=4):
    return keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, activation="relu", name="block1_conv1"),
            keras.layers.MaxPooling2D(name="block1_pool"),
            keras.layers.Conv2D(8, 3, activation="relu", name="block2_conv1"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(classes),
        ],
        name="vgg",
    )


@pytest.mark.parametrize("build", [patch_attention, small_vgg])
def test_analyze_reads_a_saved_model_of_each_adapter(build, tmp_path, capsys):
    model = build()
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    code = guarded(analyze_main, [str(path), *DATA, "--out", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    summary = json.loads((tmp_path / "snp" / "summary.json").read_text())
    assert list(summary["taps"]) == [s.name for s in find_sites(model)]
    heads = tmp_path / "heads" / "heads.json"
    if model.name == "vit":
        report = json.loads(heads.read_text())
        assert report["ablation_available"]
        (encoder,) = report["encoders"]
        assert encoder["ablation"]["base_accuracy"] == pytest.approx(
            accuracy_on_test_split(model)
        )
        drops = [h["ablation"]["per_label_drop"] for h in encoder["heads"]]
        assert len(drops) == 2 and all(len(d) == 4 for d in drops)
    else:
        assert not heads.exists()
    from keras_snp.pages import read_page_data

    site = read_page_data(tmp_path / "pages" / "data" / "site.js")
    assert [t["name"] for t in site["taps"]] == list(summary["taps"])
    assert site["run"] == path.name and site["variant"] == model.name
    assert site["images"]["available"] and site["ablation"]["available"]
    assert (site["heads"] is not None) == (model.name == "vit")


def test_analyze_names_sites_for_taps(tmp_path, capsys):
    path = tmp_path / "vit.keras"
    patch_attention().save(path)
    code = guarded(analyze_main, [str(path), *DATA, "--taps", "nope"])
    err = capsys.readouterr().err
    assert code == 2 and "block_1_mha" in err and "nope" in err


@pytest.mark.parametrize("build", [patch_attention, small_vgg])
def test_prune_script_prunes_a_saved_model_of_each_adapter(
    build, tmp_path, capsys
):
    import numpy as np

    from keras_snp.cli.prune import prune_main

    model = build()
    path = tmp_path / f"{model.name}.keras"
    model.save(path)
    data = [a for a in DATA if a not in ("--null-samples", "5")]
    data = [a for a in data if a not in ("--readout-views", "1")]
    out = tmp_path / "pruned"
    code = guarded(
        prune_main,
        [str(path), *data, "--fine-tune-epochs", "1", "--out", str(out)],
    )
    assert code == 0, capsys.readouterr().err
    table = json.loads((out / "pruning.json").read_text())
    assert set(table["methods"]) == {"andc", "random", "magnitude"}
    assert table["unpruned"] == pytest.approx(accuracy_on_test_split(model))
    andc = keras.models.load_model(out / "andc.keras")
    expected = accuracy_on_test_split(andc)
    assert table["methods"]["andc"] == pytest.approx(expected)
    # the unpruned control is reported exactly when a fine-tune ran
    assert 0.0 <= table["unpruned_fine_tuned"] <= 1.0
    assert 0 < table["dilution"] < 1
    masks = np.load(out / "masks.npz")
    assert sorted(masks.files) == sorted(table["layers"])
    classifier = andc.layers[-1]
    kernel = keras.ops.convert_to_numpy(classifier.kernel)
    assert np.all(kernel[~masks[classifier.name]] == 0)


def test_prune_script_without_fine_tune_has_no_fine_tuned_control(
    tmp_path, capsys
):
    from keras_snp.cli.prune import prune_main

    path = tmp_path / "vgg.keras"
    small_vgg().save(path)
    data = [a for a in DATA if a not in ("--null-samples", "5")]
    data = [a for a in data if a not in ("--readout-views", "1")]
    out = tmp_path / "pruned"
    code = guarded(prune_main, [str(path), *data, "--out", str(out)])
    assert code == 0, capsys.readouterr().err
    table = json.loads((out / "pruning.json").read_text())
    assert table["unpruned_fine_tuned"] is None
    assert table["fine_tune_epochs"] == 0


def test_prune_script_needs_a_dataset_for_a_model(tmp_path, capsys):
    from keras_snp.cli.prune import prune_main

    path = tmp_path / "vgg.keras"
    small_vgg().save(path)
    assert guarded(prune_main, [str(path)]) == 2
    assert "needs --dataset" in capsys.readouterr().err
