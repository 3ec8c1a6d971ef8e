"""keras-hub's ViT through the attention adapter (keras-hub is an optional
extra: `pip install -e ".[hub]"`; CI installs it)."""

import numpy as np
import pytest
from keras import ops

from keras_snp.sites import ablate
from keras_snp.sites import find_sites
from keras_snp.sites import layer_at
from keras_snp.sites import run_with_cache

keras_hub = pytest.importorskip(
    "keras_hub", reason="keras-hub is not installed (the `hub` extra)"
)


@pytest.fixture(scope="module")
def vit():
    backbone = keras_hub.models.ViTBackbone(
        image_shape=(32, 32, 3),
        patch_size=8,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        mlp_dim=32,
    )
    return keras_hub.models.ViTImageClassifier(backbone=backbone, num_classes=5)


def test_every_encoder_block_is_found_inside_the_backbone(vit):
    sites = find_sites(vit)
    assert [(s.name, s.kind, s.shape) for s in sites] == [
        ("block_1_mha", "mha", (17, 2, 8)),
        ("block_1_ff", "ff", (17, 32)),
        ("block_1_out", "res", (17, 16)),
        ("block_2_mha", "mha", (17, 2, 8)),
        ("block_2_ff", "ff", (17, 32)),
        ("block_2_out", "res", (17, 16)),
    ]
    assert sites[3].path[-2:] == ("transformer_block_2", "mha")


def test_silencing_a_head_equals_zeroing_its_projection_rows(vit):
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3))
    images = images.astype("float32")
    site = find_sites(vit)[3]
    nodes = site.nodes_of_heads([1])
    intact, cache = run_with_cache(vit, images, [site])
    assert cache[site.name].shape == (4, 17, 2, 8)
    with ablate(vit, {site: nodes}):
        ablated = vit.predict(images, verbose=0)
    projection = layer_at(vit, site.path)._output_dense
    kernel = ops.convert_to_numpy(projection.kernel)
    masked = kernel.copy()
    masked[1] = 0.0  # (heads, head_dim, hidden): head 1's rows
    projection.kernel.assign(masked)
    try:
        expected = ops.convert_to_numpy(vit(images, training=False))
    finally:
        projection.kernel.assign(kernel)
    np.testing.assert_allclose(ablated, expected, atol=1e-5)
    assert np.abs(ablated - intact).max() > 1e-4


def test_connections_reach_inside_the_backbone(vit):
    from keras_snp.pruning.any_model import connections

    conns = connections(vit)
    layers = [c.layer.split("/")[-2:] for c in conns]
    assert ["transformer_block_1", "mha"] in layers
    assert ["mlp", "dense_2"] in layers
    assert conns[-1].layer == "predictions" and conns[-1].writes is None
    mha = next(c for c in conns if c.layer.endswith("transformer_block_1/mha"))
    assert mha.reads.shape == (17, 2, 8) and mha.writes.shape == (17, 16)
