"""`log_pages`: the pages of a run on TensorBoard, where they fit: a few
node pages as images (SNP matrix with label names, clusters outlined, top
images), and the path of the static site in a text summary. The depth
profile (`log_snp`) and the head expertise maps (`log_heads`) are already
there."""

import os

from keras_snp.pages import figures
from keras_snp.run import tensorboard


def board_nodes(data, count):
    """`[(tap, node)]`: per tap in turn, the nodes with the most diagonal
    labels, `count` in all."""
    ranked = {
        name: sorted(
            range(len(tap.stats)), key=lambda d: (-len(tap.stats[d].diag), d)
        )
        for name, tap in data.taps.items()
    }
    picks, depth = [], 0
    while len(picks) < count and any(depth < len(r) for r in ranked.values()):
        for name, order in ranked.items():
            if depth < len(order) and len(picks) < count:
                d = order[depth]
                if data.taps[name].stats[d].diag:
                    picks.append((name, d))
        depth += 1
    return picks


def log_pages(info, data, snp_result, log_dir, count=4):
    """Writes the site's path and size as text, and `count` node pages as
    images (tag `pages/{tap}/node_{d}`).

    Args:
        info: what `build_pages` returned first.
        data: its `NodesData` (None: text only).
        snp_result: the run's `SNPResult`.
        log_dir: TensorBoard folder, e.g. `<run>/logs/pages`.
        count: node pages to draw.
    """
    index = os.path.abspath(info["index"])
    lines = [
        "The run's pages (open in any browser, no server): "
        f"[{index}](file://{index})",
        "",
        f"{info['nodes']} nodes, {info['ablated_nodes']} silenced one by "
        f"one; {info['bytes'] / 1e6:.1f} MB, written in "
        f"{info['seconds'].get('total', 0):.1f} s.",
    ]
    if info.get("pruned"):
        pruned = os.path.abspath(info["pruned"]["index"])
        lines += [
            "",
            "The pruned model's pages (each page toggles to its twin): "
            f"[{pruned}](file://{pruned})",
        ]
    tensorboard.write_text(log_dir, "pages", "\n".join(lines))
    if data is None:
        return
    names = snp_result.label_names or [
        str(i) for i in range(snp_result.num_classes)
    ]
    for name, d in board_nodes(data, count):
        tap = data.taps[name]
        tops = []
        for p in tap.pairs_of(d):
            indices = [int(i) for i in tap.index[p] if i >= 0]
            tops.append((int(tap.pair_label[p]), indices))
        fig = figures.node_figure(
            name,
            d,
            snp_result.taps[name].V[d],
            tap.stats[d],
            names,
            snp_result.theta,
            tops,
            data.thumbs,
        )
        tensorboard.write_image(log_dir, f"pages/{name}/node_{d}", fig)
