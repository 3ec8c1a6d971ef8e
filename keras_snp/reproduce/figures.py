"""The figures of REPORT.md (matplotlib, Agg backend, PNG files)."""

import os

import numpy as np

from keras_snp.pruning.sweep import METHODS
from keras_snp.pruning.sweep import plot_methods
from keras_snp.utils import atomic_path

KIND_STYLE = {"mha": "o-", "ff": "s-", "res": "^-", "block": "D-"}


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path):
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=110, bbox_inches="tight")


def _by_kind(rows):
    kinds = {}
    for row in rows:
        kinds.setdefault(row["kind"], []).append(row)
    return kinds


def depth_figure(analysis, path):
    """Readout accuracy and the tap statistics against depth."""
    plt = _pyplot()
    claims = analysis["claims"]
    panels = [
        ("readout_accuracy", claims["accuracy_depth"]["rows"]),
        ("mean_diag", claims["clusters_noise"]["rows"]),
        ("mean_noise", claims["clusters_noise"]["rows"]),
        ("snr", claims["clusters_noise"]["rows"]),
        ("empty_fraction", claims["clusters_noise"]["rows"]),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4))
    for ax, (stat, rows) in zip(axes, panels):
        for kind, kind_rows in _by_kind(rows).items():
            depths = [r["depth"] for r in kind_rows]
            ax.plot(
                depths,
                [r[stat] for r in kind_rows],
                KIND_STYLE.get(kind, "o-"),
                label=kind,
            )
        ax.set_xlabel("depth (encoder / block)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.set_title(stat)
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(analysis["run_name"], y=1.04)
    _save(fig, path)
    plt.close(fig)


def pruning_figure(claim, path):
    """Accuracy of every pruning row, and the paired differences + CI."""
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.6))
    names = [row["name"] for row in claim["table"]]
    left.barh(names, [row["accuracy"] for row in claim["table"]])
    left.invert_yaxis()
    left.set_xlabel("test accuracy")
    diffs = claim["differences"]
    if diffs:
        labels = [f"{d['a']} - {d['b']}" for d in diffs]
        values = np.array([d["difference"] for d in diffs])
        errors = np.array(
            [
                [d["difference"] - d["low"] for d in diffs],
                [d["high"] - d["difference"] for d in diffs],
            ]
        )
        right.errorbar(values, range(len(diffs)), xerr=errors, fmt="o")
        right.set_yticks(range(len(diffs)), labels)
        right.invert_yaxis()
        right.axvline(0, color="k", lw=0.8)
        right.axvline(-claim["margin"], color="r", ls="--", lw=0.8)
        right.set_xlabel("accuracy difference (95% bootstrap CI)")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def heads_figure(claim, path):
    """Observed head metrics against the null model, per encoder."""
    plt = _pyplot()
    metrics = claim["claim_metrics"]
    fig, axes = plt.subplots(
        1, len(metrics) + 1, figsize=(4 * (len(metrics) + 1), 3.4)
    )
    encoders = [e["encoder"] for e in claim["encoders"]]
    for ax, metric in zip(axes, metrics):
        observed = [e["null"][metric]["observed"] for e in claim["encoders"]]
        mean = [e["null"][metric]["null_mean"] for e in claim["encoders"]]
        std = [e["null"][metric]["null_std"] or 0 for e in claim["encoders"]]
        ax.errorbar(
            encoders,
            mean,
            yerr=np.array(std) * 2,
            fmt="s",
            label="null (mean +- 2 sd)",
        )
        ax.plot(encoders, observed, "o", color="r", label="observed")
        ax.set_title(metric)
        ax.set_xlabel("encoder")
    axes[0].legend()
    ax = axes[-1]
    for e in claim["encoders"]:
        ax.plot(
            [e["encoder"]] * len(e["contrasts"]), e["contrasts"], "o", alpha=0.6
        )
    ax.axhline(0, color="k", lw=0.8)
    ax.set_title("ablation contrast per head")
    ax.set_xlabel("encoder")
    for ax in axes:
        ax.xaxis.get_major_locator().set_params(integer=True)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def sweep_figure(claim, path):
    """One panel per scope: test accuracy after the fine-tune against
    dilution, a line per method (the sweep's points and the stage's),
    the unpruned rows as horizontal lines."""
    plt = _pyplot()
    sweep = claim["sweep"]
    rows = list(sweep["rows"])
    acc = {r["name"]: r["accuracy"] for r in claim["table"]}
    for method in METHODS:
        if f"{method}_fine_tuned" in acc:
            rows.append(
                {
                    "scope": claim["scope"],
                    "theta": claim["theta"],
                    "method": method,
                    "dilution": claim["dilution"],
                    "accuracy": acc[f"{method}_fine_tuned"],
                }
            )
    scopes = list(dict.fromkeys(r["scope"] for r in rows))
    fig, axes = plt.subplots(
        1, len(scopes), squeeze=False, figsize=(4.4 * len(scopes), 3.6)
    )
    for ax, scope in zip(axes[0], scopes):
        plot_methods(ax, rows, scope)
        for name, style in (("unpruned", ":"), ("unpruned_fine_tuned", "--")):
            if name in acc:
                ax.axhline(acc[name], color="grey", ls=style, label=name)
        if "unpruned_fine_tuned" in acc:
            ax.axhline(
                acc["unpruned_fine_tuned"] - claim["margin"],
                color="r",
                ls="--",
                lw=0.8,
                label="margin",
            )
        ax.set_title(f"scope {scope}")
        ax.set_xlabel("dilution (share of connections cut)")
        ax.set_ylabel("test accuracy after fine-tune")
        ax.grid(alpha=0.3)
    for ax in axes[0]:
        ax.legend(fontsize=7)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)


def write_figures(analysis, folder):
    """Writes every figure into `folder`; returns their file names."""
    os.makedirs(folder, exist_ok=True)
    names = {"depth": "depth.png"}
    depth_figure(analysis, os.path.join(folder, names["depth"]))
    claims = analysis["claims"]
    if claims["pruning"]:
        names["pruning"] = "pruning.png"
        pruning_figure(claims["pruning"], os.path.join(folder, "pruning.png"))
        if claims["pruning"].get("sweep"):
            names["sweep"] = "sweep.png"
            sweep_figure(claims["pruning"], os.path.join(folder, "sweep.png"))
    if claims["heads"]:
        names["heads"] = "heads.png"
        heads_figure(claims["heads"], os.path.join(folder, "heads.png"))
    return names
