"""The pruned model's pages beside the unpruned ones: its numbers are the
pruned SNP's, and each node page's toggle leads to the same node in the
other model (through `pruned/pruning_detail.json`'s `kept_nodes`)."""

import os

import numpy as np
import pytest

from keras_snp.pages.build import build_pages
from keras_snp.pages.settings import PagesSettings
from keras_snp.pages.writer import read_page_data
from keras_snp.pages.writer import unpack_top
from keras_snp.pruning import prune
from keras_snp.pruning import shrink
from keras_snp.pruning.shrinking import kept_nodes
from keras_snp.utils import read_json
from keras_snp.utils import write_json
from tests.pages import fixtures
from tests.pages.build_test import CHROMIUM
from tests.pages.build_test import dump_dom


def _masks(model):
    """ANDC-like masks that remove FF units 0-5 of encoder 1 and value
    nodes 1, 2 of encoder 2."""
    masks = {
        layer.name: np.ones(layer.kernel.shape, bool)
        for layer in model.layers
        if layer.name.endswith(("ff_out", "attn_proj"))
    }
    masks["encoder_1_ff_out"][:6] = False
    masks["encoder_2_attn_proj"][[1, 2]] = False
    return masks


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "tiny-pruned"
    model = fixtures.model_with_weights()
    x, y, batches = fixtures.images()
    fixtures.run_folder(
        str(run), model, fixtures.snp_result(model, x, y), batches
    )
    masked = prune(model, masks=_masks(model))
    small = shrink(masked)
    pruned_dir = run / "pruned"
    os.makedirs(pruned_dir)
    small.save(str(pruned_dir / "model.keras"))
    kept = kept_nodes(masked)
    write_json(str(pruned_dir / "pruning_detail.json"), {"kept_nodes": kept})
    pruned_result = fixtures.snp_result(small, x, y, seed=3)
    fixtures.run_folder(str(pruned_dir), small, pruned_result, batches)
    info, _ = build_pages(
        str(run),
        model,
        batches,
        settings=PagesSettings(top_k=2, ablation_nodes=1),
        verbose=0,
    )
    return run, info, kept, pruned_result


def test_pruned_pages_hold_the_pruned_snp_and_pair_the_nodes(site):
    run, info, kept, pruned_result = site
    pages = run / "pages"
    S = read_page_data(pages / "data" / "site.js")
    P = read_page_data(pages / "pruned" / "data" / "site.js")
    assert S["view"] == {"name": "unpruned", "other": "pruned/"}
    assert P["view"] == {"name": "pruned", "other": "../"}
    assert info["pruned"]["index"] == str(pages / "pruned" / "index.html")
    # one sprite of the test thumbnails serves both models
    assert P["images"]["sprite"] == "../images/thumbs.jpg"
    assert P["images"]["used"] == S["images"]["used"]
    assert not (pages / "pruned" / "images").exists()
    for view, site in (("", S), ("pruned", P)):
        for entry in site["taps"]:
            T = read_page_data(pages / view / entry["file"])
            for labels in unpack_top(T):
                for _, indices, _ in labels:
                    assert set(indices) <= set(S["images"]["used"])
    summary = read_json(run / "pruned" / "snp" / "summary.json")
    assert P["heads"] == read_json(run / "pruned" / "heads" / "heads.json")
    for entry in P["taps"]:
        name = entry["name"]
        assert entry["nodes"] == pruned_result.taps[name].nodes
        assert entry["stats"]["mean_diag"] == pytest.approx(
            summary["taps"][name]["mean_diag"]
        )
    by_name = {t["name"]: t for t in S["taps"]}
    pruned_by_name = {t["name"]: t for t in P["taps"]}
    assert pruned_by_name["encoder_1_ff_hidden"]["nodes"] == 32 - 6
    assert pruned_by_name["encoder_2_mha"]["nodes"] == 16 - 2
    for name, origin in kept.items():
        assert pruned_by_name[name]["twin"] == origin
        forward = by_name[name]["twin"]
        assert [forward[o] for o in origin] == list(range(len(origin)))
        removed = sorted(set(range(len(forward))) - set(origin))
        assert all(forward[d] == -1 for d in removed)
    # a tap the shrink does not touch pairs node for node
    assert by_name["encoder_1_out"]["twin"] == list(range(16))


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed")
def test_node_page_toggle_leads_to_the_same_node(site):
    run, *_ = site
    pages = os.path.join(run, "pages")
    # unpruned node 7 of encoder_1_ff_hidden is pruned node 1 (0-5 removed)
    node = dump_dom(os.path.join(pages, "node.html#encoder_1_ff_hidden/7"))
    assert 'href="pruned/node.html#encoder_1_ff_hidden/1"' in node
    removed = dump_dom(os.path.join(pages, "node.html#encoder_1_ff_hidden/3"))
    assert "node removed by the shrink" in removed
    back = dump_dom(
        os.path.join(pages, "pruned", "node.html#encoder_1_ff_hidden/1")
    )
    assert 'href="../node.html#encoder_1_ff_hidden/7"' in back
    assert "ANDC-pruned model" in back
    assert 'class="thumb"' in back and "../images/thumbs.jpg" in back
