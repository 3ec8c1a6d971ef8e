import keras
import numpy as np
import pytest

from keras_snp.models import VARIANTS
from keras_snp.models import build_cct
from tests.helpers import tiny_cct

COUNTS = [
    (name, key, count)
    for name, config in VARIANTS.items()
    for key, count in config.official_params.items()
]


@pytest.mark.parametrize("name,key,count", COUNTS)
def test_official_parameter_count(name, key, count):
    image_size, num_classes = map(int, key.split("/"))
    model = build_cct(name, num_classes=num_classes, image_size=image_size)
    assert model.count_params() == count


def test_tap_layers_are_named():
    model = tiny_cct()
    names = {layer.name for layer in model.layers}
    for index in (1, 2):
        for suffix in ("mha", "ff_hidden", "out"):
            assert f"encoder_{index}_{suffix}" in names
    assert model.get_layer("encoder_1_mha").output.shape == (None, 64, 16)
    assert model.get_layer("encoder_1_ff_hidden").output.shape == (None, 64, 32)


def test_unknown_variant_lists_names():
    with pytest.raises(ValueError, match="cct_7_3x1"):
        build_cct("cct_99")


def test_image_too_small_names_minimum():
    with pytest.raises(
        ValueError,
        match=r"`image_size` must be at least \d+ .* kernel size 7\. "
        "Received: image_size=4$",
    ):
        build_cct("cct_7_7x2", num_classes=10, image_size=4)


@pytest.mark.parametrize("kind", ["learnable", "sine", "none"])
def test_positional_embeddings_and_saving(kind, tmp_path):
    model = tiny_cct(positional_embedding=kind)
    x = np.random.default_rng(0).uniform(0, 255, (2, 16, 16, 3))
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.models.load_model(path, safe_mode=True)
    np.testing.assert_allclose(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0), atol=1e-5
    )
    learnable = 64 * 16 if kind == "learnable" else 0
    assert (
        model.count_params()
        == tiny_cct(positional_embedding="none").count_params() + learnable
    )
