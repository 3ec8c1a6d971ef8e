"""`log_snp`: an `SNPResult` on TensorBoard (scalars, depth profile,
histograms, heat maps of a few nodes' SNP matrices)."""

import numpy as np

from keras_snp.run import tensorboard
from keras_snp.snp import clusters

SCALARS = (
    "readout_accuracy",
    "mean_diag",
    "mean_noise",
    "snr",
    "empty_fraction",
)


def depth_profile(result):
    """`{kind: {stat: [(encoder, value), ...]}}` for the CCT taps."""
    summary = result.summary()["taps"]
    profile = {}
    for stats in summary.values():
        if stats["encoder"] is None:
            continue
        kind = profile.setdefault(stats["kind"], {s: [] for s in SCALARS})
        for s in SCALARS:
            kind[s].append((stats["encoder"], stats[s]))
    for kind in profile.values():
        for s in SCALARS:
            kind[s].sort()
    return profile


def heatmap(V, size=8):
    """`(K*size, K*size, 3)` uint8: a node's matrix over its own maximum
    (red positive, blue negative; rows = true label, columns = output)."""
    peak = np.max(np.abs(V)) or 1.0
    v = np.clip(V / peak, -1.0, 1.0)
    image = np.full(V.shape + (3,), 255.0)
    image[..., 1] -= 255 * np.abs(v)
    image[..., 2] -= 255 * np.clip(v, 0, 1)
    image[..., 0] -= 255 * np.clip(-v, 0, 1)
    image = np.kron(image, np.ones((size, size, 1)))
    return image.astype("uint8")


def _profile_figure(profile):
    """The four depth statistics over encoders, integer encoder ticks."""
    plt = tensorboard.pyplot()
    if plt is None:
        return None
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2), dpi=100)
    for ax, stat in zip(axes, SCALARS[:4]):
        ticks = set()
        for kind, stats in sorted(profile.items()):
            points = [(x, y) for x, y in stats[stat] if np.isfinite(y)]
            if points:
                x, y = zip(*points)
                ax.plot(x, y, marker="o", label=kind)
                ticks.update(x)
        ax.set_xticks(sorted(ticks))
        ax.set_title(STAT_TITLES[stat])
        ax.set_xlabel("encoder")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize="small")
    fig.tight_layout()
    return fig


STAT_TITLES = {
    "readout_accuracy": "readout accuracy",
    "mean_diag": "labels per node (diagonal set)",
    "mean_noise": "noise per node",
    "snr": "signal / noise",
    "empty_fraction": "share of nodes with no label",
}


def nodes_figure(tap, theta, label_names=None, count=4):
    """The `count` nodes of a tap with the most labels: each node's SNP
    matrix (rows = true label, columns = output label) over its own
    maximum, red positive, blue negative, with a colour bar."""
    plt = tensorboard.pyplot()
    if plt is None:
        return None
    diag = clusters.diagonal_mask(tap.V, theta).sum(-1)
    picks = np.argsort(-diag, kind="stable")[:count]
    k = tap.V.shape[1]
    fig, axes = plt.subplots(
        1,
        len(picks),
        squeeze=False,
        dpi=100,
        figsize=(2.9 * len(picks) + 0.8, 3.3),
    )
    names = list(label_names or range(k))
    step = max(1, int(np.ceil(k / 10)))
    ticks = list(range(0, k, step))
    image = None
    for i, (ax, d) in enumerate(zip(axes[0], picks)):
        peak = float(np.max(np.abs(tap.V[d]))) or 1.0
        image = ax.imshow(tap.V[d] / peak, cmap="RdBu_r", vmin=-1, vmax=1)
        ax.set_title(f"node {d}: {int(diag[d])} label(s)", fontsize=9)
        ax.set_xticks(
            ticks, [str(names[t])[:8] for t in ticks], rotation=90, fontsize=7
        )
        ax.set_yticks(ticks, [str(names[t])[:8] for t in ticks], fontsize=7)
        ax.tick_params(labelleft=i == 0)
        ax.set_xlabel("output label", fontsize=8)
    axes[0][0].set_ylabel("true label", fontsize=8)
    fig.suptitle(
        f"{tap.name}: the {len(picks)} nodes with the most "
        f"labels (theta {theta})",
        fontsize=10,
    )
    fig.colorbar(
        image, ax=list(axes[0]), shrink=0.8, label="field / node maximum"
    )
    return fig


def snp_table(summary):
    """The per-tap statistics as an escaped markdown table."""
    rows = [
        [
            name,
            s["kind"],
            s["encoder"] or "-",
            s["nodes"],
            f"{s['readout_accuracy']:.3f}",
            f"{s['mean_diag']:.2f}",
            f"{s['mean_noise']:.1f}",
            f"{s['snr']:.3f}",
            f"{s['empty_fraction']:.2f}",
        ]
        for name, s in summary.items()
    ]
    return tensorboard.markdown_table(
        [
            "tap",
            "kind",
            "encoder",
            "nodes",
            "readout accuracy",
            "labels per node",
            "noise",
            "signal / noise",
            "share without label",
        ],
        rows,
    )


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def convergence_table(summary):
    """Each readout's convergence as an escaped markdown table."""
    rows = []
    for name, s in summary.items():
        c = s.get("convergence") or {}
        verdict = {True: "yes", False: "**NO**"}.get(c.get("converged"), "-")
        rows.append(
            [
                name,
                c.get("solver", "-"),
                verdict,
                _fmt(c.get("objective"), ".5f"),
                _fmt(c.get("loss"), ".4f"),
                _fmt(c.get("relative_grad_norm"), ".1e"),
                _fmt(c.get("passes"), "d"),
                _fmt(c.get("seconds"), ".1f"),
            ]
        )
    return tensorboard.markdown_table(
        [
            "tap",
            "solver",
            "converged",
            "objective",
            "cross-entropy",
            "relative gradient",
            "passes",
            "seconds",
        ],
        rows,
    )


def convergence_scalars(summary):
    """`convergence/{tap}/{field}` scalars of the measured readouts."""
    series = {}
    for name, s in summary.items():
        c = s.get("convergence") or {}
        for field in (
            "objective",
            "loss",
            "relative_grad_norm",
            "passes",
            "views",
            "held_out_change",
        ):
            if c.get(field) is not None:
                series[f"convergence/{name}/{field}"] = float(c[field])
        if c.get("converged") is not None:
            series[f"convergence/{name}/converged"] = float(c["converged"])
    return series


def log_snp(result, log_dir, step=0, heatmap_nodes=4, scalars=False):
    """Writes an `SNPResult` to TensorBoard under `log_dir`.

    A single measurement is a table and pictures, not one-point charts:
    the `summary` and `trend` markdown tables, the `snp/depth_profile`
    figure (statistics over encoders), `snp/{tap}/nodes` figures of the
    `heatmap_nodes` nodes with the most labels, `snp/{tap}/diag_size` and
    `snp/{tap}/noise` histograms. (Tags of pictures start with `snp/`,
    so TensorBoard's Time Series lists the training curves, `epoch_*`,
    first.) `scalars=True` (measurements along
    training, `snp_logger`) adds `{tap}/{stat}` and
    `trend/{kind}/{stat}_slope` scalars at `step`: curves over epochs.

    Args:
        result: an `SNPResult`.
        log_dir: TensorBoard folder (e.g. `run/logs/snp`).
        step: the step (training epoch) of every summary.
        heatmap_nodes: nodes per tap drawn as heat maps (0: none).
        scalars: also write per-tap scalars (a series over epochs).

    Example:
    ```python
    log_snp(compute_snp(model, train_ds, test_ds), "run/logs/snp", step=10)
    ```
    """
    summary = result.summary()["taps"]
    profile = depth_profile(result)
    trend, series = [], {}
    for kind, stats in sorted(profile.items()):
        for s in SCALARS:
            points = [(x, y) for x, y in stats[s] if np.isfinite(y)]
            slope = clusters.slope(*zip(*points)) if points else np.nan
            if np.isfinite(slope):
                trend.append([kind, STAT_TITLES[s], f"{slope:+.4f}"])
                series[f"trend/{kind}/{s}_slope"] = slope
    if scalars:
        series.update(
            {
                f"{name}/{s}": stats[s]
                for name, stats in summary.items()
                for s in SCALARS
            }
        )
        tensorboard.write_scalars(log_dir, series, step)
    histograms = {}
    for name, tap in result.taps.items():
        node = [clusters.node_stats(v, result.theta) for v in tap.V]
        histograms[f"snp/{name}/diag_size"] = [len(n.diag) for n in node]
        histograms[f"snp/{name}/noise"] = [n.noise for n in node]
        if heatmap_nodes:
            tensorboard.write_figure(
                log_dir,
                f"snp/{name}/nodes",
                nodes_figure(
                    tap, result.theta, result.label_names, heatmap_nodes
                ),
                step,
            )
    tensorboard.write_histograms(log_dir, histograms, step)
    tensorboard.write_text(log_dir, "summary", snp_table(summary), step)
    tensorboard.write_text(
        log_dir,
        "convergence",
        "How each readout's training ended (METHOD.md section 2: "
        "converged when the whitened gradient norm fell to the tolerance "
        "times its value at zero weights).\n\n" + convergence_table(summary),
        step,
    )
    convergence = convergence_scalars(summary)
    if convergence:
        tensorboard.write_scalars(log_dir, convergence, step)
    if trend:
        tensorboard.write_text(
            log_dir,
            "trend",
            "Least-squares slope of each statistic over "
            "encoders (per encoder).\n\n"
            + tensorboard.markdown_table(
                ["tap kind", "statistic", "slope"], trend
            ),
            step,
        )
    if profile:
        tensorboard.write_figure(
            log_dir, "snp/depth_profile", _profile_figure(profile), step
        )


def snp_logger(log_dir, heatmap_nodes=4):
    """An `SNPCallback(on_result=...)` hook writing each result to
    TensorBoard under `log_dir`, at step = epoch."""

    def on_result(result, epoch):
        log_snp(
            result,
            log_dir,
            step=epoch,
            heatmap_nodes=heatmap_nodes,
            scalars=True,
        )

    return on_result
