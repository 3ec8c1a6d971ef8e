"""The site's numbers are the run's numbers (read back from its data
files), and the pages render in headless Chromium where it is installed."""

import os
import shutil
import subprocess

import numpy as np
import pytest

from keras_snp.pages.build import build_pages
from keras_snp.pages.figures import normalised
from keras_snp.pages.settings import PagesSettings
from keras_snp.pages.writer import dequantize
from keras_snp.pages.writer import read_page_data
from keras_snp.pages.writer import unpack
from keras_snp.pages.writer import unpack_top
from keras_snp.snp import clusters
from keras_snp.utils import read_json
from tests.pages import fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    run = tmp_path_factory.mktemp("run") / "tiny-synthetic"
    model = fixtures.model_with_weights()
    x, y, batches = fixtures.images()
    result = fixtures.snp_result(model, x, y)
    fixtures.run_folder(str(run), model, result, batches)
    info, data = build_pages(
        str(run),
        model,
        batches,
        settings=PagesSettings(top_k=4, ablation_nodes=1),
        snp_result=result,
        verbose=0,
    )
    return run, info, data, result


def test_site_data_are_the_runs_numbers(site):
    run, info, data, result = site
    pages = run / "pages"
    for name in (
        "index.html",
        "encoder.html",
        "node.html",
        "images/thumbs.jpg",
    ):
        assert (pages / name).is_file(), name
    S = read_page_data(pages / "data" / "site.js")
    summary = read_json(run / "snp" / "summary.json")
    heads = read_json(run / "heads" / "heads.json")
    assert S["label_names"] == fixtures.NAMES
    assert S["theta"] == summary["theta"]
    assert S["heads"] == heads
    assert [t["name"] for t in S["taps"]] == list(summary["taps"])
    for entry in S["taps"]:
        name = entry["name"]
        for key in ("readout_accuracy", "mean_diag", "mean_noise", "snr"):
            assert entry["stats"][key] == pytest.approx(
                summary["taps"][name][key]
            )
        tap = result.taps[name]
        stats = [clusters.node_stats(v, result.theta) for v in tap.V]
        assert entry["diag"] == [list(s.diag) for s in stats]
        assert entry["noise"] == [s.noise for s in stats]
        T = read_page_data(pages / entry["file"])
        V = dequantize(unpack(T["V"], tuple(T["V_shape"])))
        np.testing.assert_allclose(
            V, np.stack([normalised(v) for v in tap.V]), atol=0.5 / 127 + 1e-6
        )
        assert T["clusters"] == [[list(c) for c in s.clusters] for s in stats]
        nodes = data.taps[name]
        for d, labels in enumerate(unpack_top(T)):
            rows = nodes.pairs_of(d)
            assert [c for c, _, _ in labels] == nodes.pair_label[rows].tolist()
            for (c, indices, scores), row in zip(labels, rows):
                kept = nodes.index[row] >= 0
                assert indices == nodes.index[row][kept].tolist()
                np.testing.assert_array_equal(scores, nodes.score[row][kept])
                assert set(indices) <= set(S["images"]["used"])
        if nodes.maps is not None:
            levels = unpack(T["maps"]).reshape(-1, np.prod(T["grid"]))
            first = nodes.maps[nodes.index >= 0][0].astype("float32")
            span = first.max() - first.min()
            expected = (first - first.min()) / (span or 1) * T["map_levels"]
            np.testing.assert_array_equal(levels[0], np.round(expected))
        for d, entry_ab in T["ablated"].items():
            np.testing.assert_allclose(
                entry_ab["alone"], nodes.ablated[int(d)]["alone"]
            )
    assert info["bytes"] > 0 and info["ablated_nodes"] == len(S["taps"])
    assert S["ablation"]["available"] and S["images"]["count"] > 0


def test_without_model_the_pages_say_what_is_missing(site, tmp_path):
    run, *_ = site
    copy = tmp_path / "copy"
    shutil.copytree(run / "snp", copy / "snp")
    info, data = build_pages(str(copy), verbose=0)
    assert data is None and info["ablated_nodes"] == 0
    S = read_page_data(copy / "pages" / "data" / "site.js")
    assert S["heads"] is None and not S["images"]["available"]
    T = read_page_data(copy / "pages" / S["taps"][0]["file"])
    assert T["top"] is None and unpack_top(T) is None


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def dump_dom(path_and_hash):
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--disable-gpu",
            "--no-sandbox",
            "--virtual-time-budget=8000",
            "--dump-dom",
            "file://" + path_and_hash,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    return done.stdout


@pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium installed")
def test_pages_render_in_headless_chromium(site):
    run, _, data, _ = site
    pages = os.path.join(run, "pages")
    index = dump_dom(os.path.join(pages, "index.html#rose"))
    assert "encoder_1_ff_hidden" in index  # the table, written by the JS
    assert "result-label" in index and "Heads" in index  # the search
    encoder = dump_dom(os.path.join(pages, "encoder.html#e1"))
    assert "Heads of encoder_1_mha" in encoder and 'class="verdict"' in encoder
    name = "encoder_1_ff_hidden"
    d = next(iter(data.taps[name].ablated))
    node = dump_dom(os.path.join(pages, f"node.html#{name}/{d}"))
    assert f"{name}, node {d}" in node
    assert "cluster 1" in node and 'class="thumb"' in node
    assert "cluster-mates" in node or "this node alone" in node
    assert 'class="loading">Loading' not in node


def test_tensorboard_gets_the_site_path_and_node_pages(site, tmp_path):
    from keras_snp.run import tensorboard
    from keras_snp.run.pages_board import board_nodes
    from keras_snp.run.pages_board import log_pages
    from tests.run.scripts import event_tags

    _, info, data, result = site
    picks = board_nodes(data, 3)
    assert len(picks) == 3 and len({t for t, _ in picks}) == 3
    log_pages(info, data, result, str(tmp_path), count=3)
    tensorboard.close_all()
    tags = event_tags(str(tmp_path))
    assert "pages" in tags
    assert {f"pages/{t}/node_{d}" for t, d in picks} <= tags


def test_depth_position_by_block_or_by_order():
    from keras_snp.pages.figures import depth_position

    cct = {
        "encoder_1_mha": {"kind": "mha", "encoder": 1},
        "encoder_1_out": {"kind": "res", "encoder": 1},
        "encoder_2_mha": {"kind": "mha", "encoder": 2},
    }
    assert depth_position(cct) == (
        {"encoder_1_mha": 1, "encoder_1_out": 1, "encoder_2_mha": 2},
        "encoder / block",
    )
    vgg = {
        "block1_conv1": {"kind": "conv", "encoder": 1},
        "block1_conv2": {"kind": "conv", "encoder": 1},
        "block2_conv1": {"kind": "conv", "encoder": 2},
    }
    x_of, label = depth_position(vgg)
    assert list(x_of.values()) == [1, 2, 3] and label.startswith("layer")
