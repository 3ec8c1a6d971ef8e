"""`build_pages`: a run folder's results (and, given them, its model and
test split) into the static site `RUN_DIR/pages/`."""

import logging
import os
import time

import numpy as np

from keras_snp.pages import figures
from keras_snp.pages import writer
from keras_snp.pages.collect import node_stats
from keras_snp.pages.pruned_view import PRUNED_VIEW
from keras_snp.pages.pruned_view import andc_connections
from keras_snp.pages.pruned_view import node_twins
from keras_snp.pages.settings import PAGES_DIR
from keras_snp.pages.settings import PagesSettings
from keras_snp.utils import read_json

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
INDEX = "index.html"


def encoder_key(encoder):
    """The `encoder.html#KEY` of an encoder (block) index, or of the taps
    outside any encoder."""
    return "other" if encoder is None else f"e{encoder}"


def _read(path):
    return read_json(path) if os.path.isfile(path) else None


def _tap_object(tap, stats, nodes, andc, label_count):
    """The `data/tap_<i>.js` object of one tap."""
    K = label_count
    V = np.stack([figures.normalised(v) for v in tap.V]) if tap.nodes else []
    obj = {
        "name": tap.name,
        "num_classes": K,
        "nodes": tap.nodes,
        "V": writer.pack(writer.quantize(np.asarray(V))),
        "V_shape": [tap.nodes, K, K],
        "V_peak": [float(v.max()) for v in tap.V],
        "clusters": [[list(c) for c in s.clusters] for s in stats],
        "andc": andc or [],
        "top": None,
        "top_pairs": None,
        "maps": None,
        "grid": None,
        "ablated": {},
    }
    if nodes is None:
        return obj
    obj.update(writer.pack_top(nodes))
    obj["field"] = nodes.field
    obj["ablated"] = {
        str(d): {
            "alone": a["alone"],
            "mates": a["mates"],
            "mate_nodes": a["mate_nodes"],
        }
        for d, a in nodes.ablated.items()
    }
    return obj


def _encoders(snp_result, heads):
    """`[{key, encoder, taps, heads}]` in depth order."""
    by_key = {}
    for name, tap in snp_result.taps.items():
        entry = by_key.setdefault(
            encoder_key(tap.encoder),
            {"key": encoder_key(tap.encoder), "encoder": tap.encoder},
        )
        entry.setdefault("taps", []).append(name)
        entry.setdefault("heads", None)
    for i, enc in enumerate((heads or {}).get("encoders", [])):
        tap = snp_result.taps.get(enc["tap"])
        key = encoder_key(tap.encoder if tap else enc.get("encoder"))
        if key in by_key:
            by_key[key]["heads"] = i
    return sorted(
        by_key.values(),
        key=lambda e: (e["encoder"] is None, e["encoder"] or 0),
    )


def build_pages(
    run_dir,
    model=None,
    test=None,
    *,
    settings=None,
    snp_result=None,
    out_dir=None,
    pruned=True,
    load_model=None,
    run_state=None,
    verbose=1,
):
    """Writes the static site of a run into `RUN_DIR/pages/`, and, when
    the run has a pruned model with its SNP (`pruned/snp/`), the same
    pages of the pruned model into `RUN_DIR/pages/pruned/`, each page with
    a toggle to its twin in the other model.

    Args:
        run_dir: the run folder (its `snp/`, and where present `heads/`,
            `pruned/`, `run.json`).
        model: the trained model; with `test`, the top images, activation
            maps and node ablations are measured (one forward pass, plus
            two passes per silenced node). Without them the pages show the
            SNP and head results only, and say so.
        test: the test split (batches of images 0..255 and labels).
        settings: `PagesSettings`.
        snp_result: the run's `SNPResult` (default: read from `snp/`);
            with its readout weights `W` the top images rank by the field.
        out_dir: where to write (default `RUN_DIR/pages`).
        pruned: also write the pruned model's pages where the run has
            them (`pruned/snp/`).
        load_model: how `pruned/model.keras` is loaded, when `model` is
            given and the run has pruned pages to write (default:
            `keras.models.load_model` with keras_snp's layers registered).
        run_state: what the header names (`run_name`, `config.dataset`,
            `model.variant`), default `RUN_DIR/run.json`.
        verbose: log progress.

    Returns:
        `(info, data)`: `info` is `{"index": path, "bytes": int,
        "seconds": {...}, "nodes": int, "ablated_nodes": int, "field": str
        or None, "pruned": info of the pruned pages or None}` (`bytes` and
        `seconds["total"]` count both); `data` the `collect.NodesData`
        measured (None without a model and test split).

    Example:
    ```python
    info, _ = build_pages("saved_models/run", model, splits.test)
    print(info["index"])  # open it in any browser
    ```
    """
    from keras_snp.snp import SNPResult

    start = time.monotonic()
    settings = settings or PagesSettings()
    out_dir = out_dir or os.path.join(run_dir, PAGES_DIR)
    if snp_result is None:
        snp_result = SNPResult.load(os.path.join(run_dir, "snp"))
    state = run_state or _read(os.path.join(run_dir, "run.json")) or {}
    state = dict(state)
    state.setdefault("run_name", os.path.basename(os.path.normpath(run_dir)))
    pruned_dir = os.path.join(run_dir, "pruned")
    pruned_result = None
    pruned_snp = os.path.join(pruned_dir, "snp")
    if pruned and os.path.isfile(os.path.join(pruned_snp, "summary.json")):
        pruned_result = SNPResult.load(pruned_snp)
    twins = (
        node_twins(run_dir, snp_result, pruned_result)
        if pruned_result is not None
        else ({}, {})
    )
    view = {
        "name": "unpruned",
        "other": PRUNED_VIEW + "/" if pruned_result is not None else None,
    }
    data = _collect(model, snp_result, test, settings, verbose)
    pruned_data = None
    if pruned_result is not None and data is not None:
        load = load_model or _load_model
        pruned_model = load(os.path.join(pruned_dir, "model.keras"))
        pruned_data = _collect(
            pruned_model, pruned_result, test, settings, verbose
        )
    # one sprite for both models: their top images are of one test split
    used = sorted(_used(data) | _used(pruned_data))
    images = {"used": used, "columns": 0, "sprite": None}
    if used:
        _, images["columns"] = writer.write_sprite(
            os.path.join(out_dir, writer.SPRITE), data.thumbs, used
        )
        images["sprite"] = writer.SPRITE
    info = _build_view(
        run_dir,
        snp_result,
        data,
        images,
        settings,
        out_dir,
        state,
        view,
        twins[0],
        andc=andc_connections(model, pruned_dir),
    )
    info["pruned"] = None
    if pruned_result is not None:
        info["pruned"] = _build_view(
            pruned_dir,
            pruned_result,
            pruned_data,
            {**images, "sprite": images["sprite"] and "../" + writer.SPRITE},
            settings,
            os.path.join(out_dir, PRUNED_VIEW),
            state,
            {"name": "pruned", "other": "../"},
            twins[1],
            andc={},
        )
        for part, seconds in info["pruned"]["seconds"].items():
            info["seconds"]["pruned_" + part] = seconds
        info["bytes"] = writer.site_size(out_dir)
    info["seconds"]["total"] = time.monotonic() - start
    if verbose:
        logger.info(
            "[pages] %s: %d nodes%s, %.1f MB in %.1f s",
            info["index"],
            info["nodes"],
            " (and the pruned model's)" if info["pruned"] else "",
            info["bytes"] / 1e6,
            info["seconds"]["total"],
        )
    return info, data


def _load_model(path):
    import keras

    import keras_snp

    keras_snp.register_serializables()
    return keras.models.load_model(path)


def _collect(model, snp_result, test, settings, verbose):
    """`collect.NodesData` of `model`, or None without a model or test
    split."""
    if model is None or test is None:
        return None
    from keras_snp.pages.collect import collect_nodes

    return collect_nodes(model, snp_result, test, settings, verbose=verbose)


def _used(data):
    """The test indices among `data`'s top images."""
    if data is None:
        return set()
    return {
        int(i)
        for t in data.taps.values()
        for i in t.index.reshape(-1)
        if i >= 0
    }


def _build_view(
    run_dir,
    snp_result,
    data,
    images,
    settings,
    out_dir,
    state,
    view,
    twins,
    andc,
):
    """One model's site (`build_pages`'s unpruned or pruned view) from its
    measured `data` (or None); `images`: the shared sprite's `used`
    indices, `columns` and path from `out_dir`."""
    start = time.monotonic()
    heads = _read(os.path.join(run_dir, "heads", "heads.json"))
    K = snp_result.num_classes
    names = list(
        snp_result.label_names or (heads or {}).get("label_names") or []
    )
    names = names if len(names) == K else [str(i) for i in range(K)]
    theta = snp_result.theta
    seconds = dict(data.seconds) if data else {}
    andc = dict(andc)
    andc_settings = andc.pop("_settings", None)
    available = data is not None and bool(images["used"])
    summary = snp_result.summary()["taps"]
    tap_entries, tap_objects = [], []
    for i, (name, tap) in enumerate(snp_result.taps.items()):
        stats = node_stats(tap, theta)
        nodes = data.taps.get(name) if data else None
        tap_objects.append(_tap_object(tap, stats, nodes, andc.get(name), K))
        tap_entries.append(
            {
                "name": name,
                "kind": tap.kind,
                "encoder": tap.encoder,
                "key": encoder_key(tap.encoder),
                "nodes": tap.nodes,
                "tokens": int(tap.tokens),
                "file": f"data/tap_{i}.js",
                "stats": summary[name],
                "head": tap.head.tolist(),
                "diag": [list(s.diag) for s in stats],
                "noise": [s.noise for s in stats],
                "num_clusters": [len(s.clusters) for s in stats],
                "field": nodes.field if nodes else None,
                "ablated": sorted(int(d) for d in nodes.ablated)
                if nodes
                else [],
                "twin": twins.get(name),
            }
        )
    site = {
        "schema_version": SCHEMA_VERSION,
        "run": state.get("run_name") or os.path.basename(run_dir),
        "view": view,
        "dataset": (state.get("config") or {}).get("dataset"),
        "variant": (state.get("model") or {}).get("variant"),
        "theta": theta,
        "readout": snp_result.readout,
        "num_classes": K,
        "label_names": names,
        "taps": tap_entries,
        "encoders": _encoders(snp_result, heads),
        "heads": heads,
        "images": {
            "available": available,
            "sprite": images["sprite"] if available else None,
            "size": settings.thumb_size,
            "columns": images["columns"],
            "count": len(images["used"]) if available else 0,
            "used": images["used"] if available else [],
            "top_k": settings.top_k,
            "test_images": int(len(data.labels)) if data else 0,
        },
        "ablation": {
            "available": data is not None and data.base_per_label is not None,
            "nodes_per_tap": settings.ablation_nodes,
            "images": data.ablation_images if data is not None else 0,
            "base_per_label": (
                data.base_per_label
                if data is not None and data.base_per_label is not None
                else None
            ),
        },
        "andc": andc_settings,
        "not_learned": state.get("not_learned"),
    }
    depth = figures.svg(figures.depth_profile_figure(summary))
    encoder_figures = {}
    if heads:
        from keras_snp.heads.report import heatmap_figure

        for entry in site["encoders"]:
            if entry["heads"] is None:
                continue
            enc = heads["encoders"][entry["heads"]]
            encoder_figures[entry["key"]] = {
                "expertise": figures.svg(heatmap_figure(enc, names)),
                "null": figures.svg(figures.null_figure(enc)),
            }
    writer.write_site(out_dir, site, tap_objects, depth, encoder_figures)
    seconds["write"] = time.monotonic() - start
    return {
        "index": os.path.join(out_dir, INDEX),
        "bytes": writer.site_size(out_dir),
        "seconds": seconds,
        "nodes": sum(t.nodes for t in snp_result.taps.values()),
        "ablated_nodes": sum(len(t["ablated"]) for t in tap_entries),
        "field": next((t["field"] for t in tap_entries if t["field"]), None),
    }
