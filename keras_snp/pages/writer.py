"""The static site: data files, the sprite, and three HTML pages.

Everything opens from disk (`file://`), no server and no network: the
JavaScript and CSS are inline in each page, the data are JavaScript files
that assign `window.SNP_SITE` (`data/site.js`) and
`window.SNP_TAPS[tap]` (`data/tap_<i>.js`, loaded on demand by a
`<script>` element, which `file://` allows where `fetch` is refused).
Large arrays (the SNP matrices, the activation maps) travel as base64 of
zlib-compressed bytes, decoded in the browser with `DecompressionStream`;
`read_page_data` reads any data file back in Python.

Layout of `pages/`:
- `index.html`: depth profile, every encoder with its taps and heads,
  the label search;
- `encoder.html#KEY`: one encoder (heads, expertise, null model, head
  ablation, node grid of each tap);
- `node.html#TAP/NODE`: one node;
- `data/`: `site.js`, one `tap_<i>.js` per tap;
- `images/thumbs.jpg`: the one sprite of every test image a node page
  shows.
"""

import base64
import json
import math
import os
import zlib

import numpy as np

from keras_snp.pages import figures
from keras_snp.utils import atomic_path
from keras_snp.utils import write_text

ASSETS = os.path.join(os.path.dirname(__file__), "assets")
SPRITE = "images/thumbs.jpg"
SPRITE_COLUMNS = 64
PREFIX = {"site": "window.SNP_SITE = ", "tap": "SNP_ADD_TAP("}


def pack(array):
    """base64 of zlib-compressed bytes of a uint8 array."""
    raw = np.ascontiguousarray(array, "uint8").tobytes()
    return base64.b64encode(zlib.compress(raw, 9)).decode("ascii")


def unpack(text, shape=None):
    """`pack`'s inverse: a uint8 array (reshaped to `shape`)."""
    raw = zlib.decompress(base64.b64decode(text))
    array = np.frombuffer(raw, "uint8")
    return array if shape is None else array.reshape(shape)


def pack_array(array):
    """base64 of zlib-compressed little-endian bytes of an int32 or
    float32 array (`Int32Array` / `Float32Array` in the page)."""
    array = np.ascontiguousarray(array)
    array = array.astype(array.dtype.newbyteorder("<"))
    return base64.b64encode(zlib.compress(array.tobytes(), 9)).decode("ascii")


def unpack_array(text, dtype):
    return np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype)


MAP_LEVELS = 7


def pack_top(nodes):
    """The top images of a tap (`collect.TapNodes`) as packed arrays:
    `top_pairs` int32 `(P, 3)` = node, label, images kept; `top_index`
    int32 test indices and `top_score` float32 scores, best first, pair
    after pair; `maps` one token map per kept image, each over its own
    range in `MAP_LEVELS + 1` levels (uint8), `grid` its shape. The sprite
    slot of test image `i` is its position in `site.images.used`."""
    keep = nodes.index >= 0
    counts = keep.sum(axis=1)
    pairs = np.stack([nodes.pair_node, nodes.pair_label, counts], axis=1)
    out = {
        "top_pairs": pack_array(pairs.astype("int32")),
        "top_index": pack_array(nodes.index[keep].astype("int32")),
        "top_score": pack_array(nodes.score[keep].astype("float32")),
        "top": True,
    }
    if nodes.maps is not None and keep.any():
        maps = nodes.maps[keep].astype("float32")
        low = maps.min(axis=1, keepdims=True)
        span = maps.max(axis=1, keepdims=True) - low
        span[span == 0] = 1.0
        levels = np.round((maps - low) / span * MAP_LEVELS).astype("uint8")
        out["maps"] = pack(levels)
        out["map_levels"] = MAP_LEVELS
        out["grid"] = list(nodes.grid)
    return out


def unpack_top(T):
    """`pack_top`'s inverse, for readers of `data/tap_<i>.js`: per node a
    list of `(label, test indices, scores)`, in the page's order (None when
    the pages have no top images)."""
    if not T.get("top_pairs"):
        return None
    pairs = unpack_array(T["top_pairs"], "<i4").reshape(-1, 3)
    index = unpack_array(T["top_index"], "<i4")
    score = unpack_array(T["top_score"], "<f4")
    top, at = [[] for _ in range(T["nodes"])], 0
    for node, label, count in pairs:
        rows = slice(at, at + count)
        top[node].append((int(label), index[rows].tolist(), score[rows]))
        at += count
    return top


def quantize(values):
    """-1..1 floats as uint8 0..254 (`q / 127 - 1` decodes them)."""
    return np.round((np.clip(values, -1, 1) + 1) * 127).astype("uint8")


def dequantize(q):
    return q.astype("float32") / 127.0 - 1.0


def clean(value):
    """JSON-safe: numpy to Python, NaN and inf to None."""
    if isinstance(value, dict):
        return {str(k): clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [clean(v) for v in value]
    if isinstance(value, np.ndarray):
        return clean(value.tolist())
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def _js(prefix, obj, suffix=";\n"):
    text = json.dumps(clean(obj), separators=(",", ":"), allow_nan=False)
    return prefix + text + suffix


def read_page_data(path):
    """The object a data file of the site assigns (`data/site.js` or
    `data/tap_<i>.js`), as Python."""
    with open(path, encoding="utf-8") as f:
        text = f.read().strip()
    for prefix in PREFIX.values():
        if text.startswith(prefix):
            body = text[len(prefix) :].rstrip(";")
            if prefix.endswith("("):
                body = body[:-1]
            return json.loads(body)
    raise ValueError(f"{path} is not a data file of the pages.")


def write_sprite(path, thumbs, indices):
    """One JPEG of the thumbnails `indices` (in that order), `SPRITE_COLUMNS`
    per row. Returns `{test index: slot}`."""
    from PIL import Image

    indices = list(indices)
    size = thumbs.shape[1] if len(thumbs) else 1
    cols = min(SPRITE_COLUMNS, max(1, len(indices)))
    rows = max(1, math.ceil(len(indices) / cols))
    sheet = np.full((rows * size, cols * size, 3), 255, "uint8")
    for slot, index in enumerate(indices):
        r, c = divmod(slot, cols)
        sheet[r * size : (r + 1) * size, c * size : (c + 1) * size] = thumbs[
            index
        ]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with atomic_path(path) as tmp:
        Image.fromarray(sheet).save(tmp, format="JPEG", quality=85)
    return {int(i): s for s, i in enumerate(indices)}, cols


def _page(kind, title, body_extra=""):
    with open(os.path.join(ASSETS, "style.css"), encoding="utf-8") as f:
        css = f.read()
    with open(os.path.join(ASSETS, "app.js"), encoding="utf-8") as f:
        js = f.read()
    return (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>\n"
        f"<title>{title}</title>\n<style>\n{css}</style>\n"
        '<script src="data/site.js"></script>\n</head>\n'
        f'<body data-page="{kind}">\n<div id=app>'
        "<p class=loading>Loading… (this page needs JavaScript; the data "
        "are in data/site.js)</p></div>\n"
        f"{body_extra}<script>\n{js}</script>\n</body></html>\n"
    )


def write_site(out_dir, site, taps, depth_svg, encoder_figures):
    """Writes the pages, `data/site.js` and every `data/tap_<i>.js`.

    Args:
        out_dir: `RUN_DIR/pages`.
        site: the `SNP_SITE` object (see `build.site_object`).
        taps: `[tap object]`, in the order of `site["taps"]`.
        depth_svg: the depth profile as inline SVG.
        encoder_figures: `{encoder key: {name: inline SVG}}`.
    """
    os.makedirs(os.path.join(out_dir, "data"), exist_ok=True)
    write_text(
        os.path.join(out_dir, "data", "site.js"), _js(PREFIX["site"], site)
    )
    for entry, tap in zip(site["taps"], taps):
        write_text(
            os.path.join(out_dir, entry["file"]),
            _js(PREFIX["tap"], tap, ");\n"),
        )
    depth = "<template id=fig-depth>" + depth_svg + "</template>\n"
    encoders = "".join(
        f'<template id="fig-{key}-{name}">{text}</template>\n'
        for key, named in encoder_figures.items()
        for name, text in named.items()
    )
    write_text(
        os.path.join(out_dir, "index.html"),
        _page("index", f"{site['run']}: what each node learned", depth),
    )
    write_text(
        os.path.join(out_dir, "encoder.html"),
        _page("encoder", f"{site['run']}: encoder", encoders),
    )
    write_text(
        os.path.join(out_dir, "node.html"),
        _page("node", f"{site['run']}: node"),
    )


def site_size(out_dir):
    """Bytes of every file under `out_dir`."""
    total = 0
    for folder, _, files in os.walk(out_dir):
        total += sum(os.path.getsize(os.path.join(folder, f)) for f in files)
    return total


__all__ = [
    "dequantize",
    "pack_top",
    "unpack_top",
    "figures",
    "pack",
    "quantize",
    "read_page_data",
    "site_size",
    "unpack",
    "write_site",
    "write_sprite",
]
