"""`log_snp`: an `SNPResult` on TensorBoard (scalars, depth profile,
histograms, heat maps of a few nodes' SNP matrices)."""

import numpy as np

from keras_snp.run import tensorboard
from keras_snp.snp import clusters

SCALARS = ("readout_accuracy", "mean_diag", "mean_noise", "snr",
           "empty_fraction")


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
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, axes = plt.subplots(1, 4, figsize=(14, 3.2))
    for ax, stat in zip(axes, SCALARS[:4]):
        for kind, stats in sorted(profile.items()):
            if stats[stat]:
                x, y = zip(*stats[stat])
                ax.plot(x, y, marker="o", label=kind)
        ax.set_title(stat)
        ax.set_xlabel("encoder")
    axes[0].legend()
    fig.tight_layout()
    return fig


def log_snp(result, log_dir, step=0, heatmap_nodes=4):
    """Writes an `SNPResult` to TensorBoard under `log_dir`.

    Tags: `{tap}/{stat}` scalars for readout accuracy, mean diagonal labels,
    mean noise, SNR and empty fraction; `trend/{kind}/{stat}_slope` (least
    squares slope over encoders); `{tap}/diag_size` and `{tap}/noise`
    histograms; `depth_profile` figure; `{tap}/nodes` heat maps of the
    `heatmap_nodes` nodes with the most diagonal labels; a `summary` table.

    Args:
        result: an `SNPResult`.
        log_dir: TensorBoard folder (e.g. `run/logs/snp`).
        step: the step (training epoch) of every summary.
        heatmap_nodes: nodes per tap drawn as heat maps (0: none).

    Example:
    ```python
    log_snp(compute_snp(model, train_ds, test_ds), "run/logs/snp", step=10)
    ```
    """
    summary = result.summary()["taps"]
    scalars = {}
    for name, stats in summary.items():
        for s in SCALARS:
            scalars[f"{name}/{s}"] = stats[s]
    profile = depth_profile(result)
    for kind, stats in profile.items():
        for s in SCALARS:
            points = [(x, y) for x, y in stats[s] if np.isfinite(y)]
            slope = clusters.slope(*zip(*points)) if points else np.nan
            if np.isfinite(slope):
                scalars[f"trend/{kind}/{s}_slope"] = slope
    tensorboard.write_scalars(log_dir, scalars, step)
    histograms = {}
    for name, tap in result.taps.items():
        node = [clusters.node_stats(v, result.theta) for v in tap.V]
        histograms[f"{name}/diag_size"] = [len(n.diag) for n in node]
        histograms[f"{name}/noise"] = [n.noise for n in node]
        if heatmap_nodes:
            diag = clusters.diagonal_mask(tap.V, result.theta).sum(-1)
            picks = np.argsort(-diag, kind="stable")[:heatmap_nodes]
            pad = np.full((tap.V.shape[1] * 8, 4, 3), 255, "uint8")
            tiles = [t for d in picks for t in (heatmap(tap.V[d]), pad)]
            tensorboard.write_image(log_dir, f"{name}/nodes",
                                    np.concatenate(tiles[:-1], axis=1), step)
    tensorboard.write_histograms(log_dir, histograms, step)
    rows = ["| tap | acc | diag | noise | snr |", "| --- | --- | --- | --- | --- |"]
    for name, s in summary.items():
        rows.append(f"| {name} | {s['readout_accuracy']:.3f} | "
                    f"{s['mean_diag']:.2f} | {s['mean_noise']:.1f} | "
                    f"{s['snr']:.3f} |")
    tensorboard.write_text(log_dir, "summary", "\n".join(rows), step)
    figure = _profile_figure(profile) if profile else None
    if figure is not None:
        tensorboard.write_image(log_dir, "depth_profile", figure, step)
        import matplotlib.pyplot as plt

        plt.close(figure)


def snp_logger(log_dir, heatmap_nodes=4):
    """An `SNPCallback(on_result=...)` hook writing each result to
    TensorBoard under `log_dir`, at step = epoch."""

    def on_result(result, epoch):
        log_snp(result, log_dir, step=epoch, heatmap_nodes=heatmap_nodes)

    return on_result
