"""The pages' figures (matplotlib, Agg, no pyplot state): the depth
profile, an encoder's null model, and a node's page as one image (for
TensorBoard). Each returns a `matplotlib.figure.Figure`; `svg` and `png`
turn one into text or bytes."""

import io
import math

import numpy as np

PROFILE = (
    ("readout_accuracy", "readout accuracy"),
    ("mean_diag", "labels per node"),
    ("mean_noise", "noise per node"),
    ("snr", "SNR (sum |S|^2 / noise)"),
    ("snr_labels", "SNR (labels / noise)"),
)


def _figure(width, height, dpi=100):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def svg(fig):
    """The figure as an inline `<svg>` element (text)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none"}):
        fig.savefig(buffer, format="svg")
    text = buffer.getvalue()
    return text[text.index("<svg") :]


def png(fig):
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def depth_position(taps):
    """`({tap: x}, x label)`: the encoder (block) of each tap when every
    tap kind has one tap per encoder; otherwise (a CNN's several convs per
    block, taps outside any block) each tap's order among the taps of its
    kind, so no two points of one line share an x."""
    seen, by_block = set(), True
    for t in taps.values():
        key = (t["kind"], t.get("encoder"))
        by_block = by_block and t.get("encoder") is not None
        by_block = by_block and key not in seen
        seen.add(key)
    if by_block:
        return {n: t["encoder"] for n, t in taps.items()}, "encoder / block"
    order, x_of = {}, {}
    for name, t in taps.items():
        order[t["kind"]] = order.get(t["kind"], 0) + 1
        x_of[name] = order[t["kind"]]
    return x_of, "layer of its kind, input to output"


def depth_profile_figure(summary_taps):
    """Readout accuracy, labels per node, noise and both SNRs over depth,
    one line per tap kind.

    Args:
        summary_taps: `snp/summary.json`'s `taps`.
    """
    x_of, x_label = depth_position(summary_taps)
    kinds = sorted({t["kind"] for t in summary_taps.values()})
    fig = _figure(3.0 * len(PROFILE), 2.9)
    axes = fig.subplots(1, len(PROFILE))
    for ax, (stat, title) in zip(axes, PROFILE):
        for kind in kinds:
            points = sorted(
                (x_of[n], t.get(stat))
                for n, t in summary_taps.items()
                if t["kind"] == kind
            )
            points = [
                (x, y)
                for x, y in points
                if y is not None and math.isfinite(float(y))
            ]
            if points:
                xs, ys = zip(*points)
                ax.plot(xs, ys, marker="o", label=kind)
        ax.set_title(title, fontsize=9)
        ax.set_xlabel(x_label, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def null_figure(encoder):
    """Per claim metric of one `heads.json` encoder: the null model's
    spread (a normal with its mean and std, as heads.json keeps no
    samples) and the observed value."""
    null = encoder.get("null") or {}
    metrics = [m for m, s in null.items() if s and s.get("null_std")]
    fig = _figure(3.2 * max(1, len(metrics)), 2.4)
    if not metrics:
        ax = fig.subplots(1, 1)
        ax.text(0.5, 0.5, "no null model", ha="center", va="center")
        ax.set_axis_off()
        return fig
    axes = np.atleast_1d(fig.subplots(1, len(metrics)))
    for ax, metric in zip(axes, metrics):
        s = null[metric]
        mean, std = s["null_mean"], s["null_std"]
        x = np.linspace(mean - 4 * std, mean + 4 * std, 200)
        observed = s.get("observed")
        if observed is not None:
            lo, hi = min(x[0], observed), max(x[-1], observed)
            x = np.linspace(lo - 0.1 * std, hi + 0.1 * std, 300)
        y = np.exp(-0.5 * ((x - mean) / std) ** 2)
        ax.fill_between(x, y, alpha=0.3, label="null (shuffled heads)")
        if observed is not None:
            ax.axvline(observed, color="red", label="observed")
        z, p = s.get("z"), s.get("p")
        ax.set_title(
            f"{metric} ({s.get('direction')} = specialised)\n"
            f"z {_fmt(z)}, p {_fmt(p)}",
            fontsize=8,
        )
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=6)
    fig.tight_layout()
    return fig


def _fmt(value):
    return "–" if value is None else f"{value:.3g}"


def normalised(V):
    """A node's matrix over its own maximum (over its largest magnitude
    when it is silent), in -1..1."""
    peak = float(V.max())
    if peak <= 0:
        peak = float(np.abs(V).max()) or 1.0
    return np.clip(V / peak, -1.0, 1.0)


def node_figure(tap_name, node, V, stats, label_names, theta, tops, thumbs):
    """One node's page as a figure: its SNP matrix (clusters outlined) and
    the top images of its first labels.

    Args:
        tap_name, node: which node.
        V: its `(K, K)` matrix.
        stats: its `NodeStats`.
        label_names: K names.
        theta: the threshold.
        tops: `[(label, [test index, ...])]`, best first.
        thumbs: `(N, s, s, 3)` uint8 test thumbnails.
    """
    from matplotlib.patches import Rectangle

    K = V.shape[0]
    rows = tops[:3]
    cols = max([len(t[1]) for t in rows] + [1])
    cols = min(cols, 8)
    fig = _figure(4.2 + 0.9 * cols, 4.4)
    grid = fig.add_gridspec(
        max(1, len(rows)), 1 + cols, width_ratios=[4.5] + [0.9] * cols
    )
    ax = fig.add_subplot(grid[:, 0])
    ax.imshow(normalised(V), cmap="RdBu_r", vmin=-1, vmax=1)
    colors = ["lime", "orange", "magenta", "cyan", "yellow"]
    for i, cluster in enumerate(stats.clusters):
        for r in cluster:
            for c in cluster:
                ax.add_patch(
                    Rectangle(
                        (c - 0.5, r - 0.5),
                        1,
                        1,
                        fill=False,
                        lw=1,
                        ec=colors[i % len(colors)],
                    )
                )
    ticks = list(stats.diag) if K > 20 else list(range(K))
    names = [str(label_names[t])[:12] for t in ticks]
    ax.set_xticks(ticks, names, rotation=90, fontsize=6)
    ax.set_yticks(ticks, names, fontsize=6)
    ax.set_xlabel("output label", fontsize=7)
    ax.set_ylabel("true label", fontsize=7)
    ax.set_title(
        f"{tap_name} node {node}: {len(stats.diag)} label(s), noise "
        f"{stats.noise} (theta {theta})",
        fontsize=8,
    )
    for r, (label, indices) in enumerate(rows):
        for c in range(cols):
            a = fig.add_subplot(grid[r, 1 + c])
            a.set_axis_off()
            if c < len(indices):
                a.imshow(thumbs[indices[c]])
            if c == 0:
                a.set_title(str(label_names[label])[:14], fontsize=7)
    fig.tight_layout()
    return fig
