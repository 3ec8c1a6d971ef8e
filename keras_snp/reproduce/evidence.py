"""What a reproduction report's verdicts are computed from, small enough
to commit beside the report, and read back to rebuild it.

A run folder holds models, checkpoints and the full SNP fields (`snp.npz`,
tens of MB). The evidence of its report is a folder of the same layout
with only what `analysis.analyze_run` reads: `run.json`, the SNP summaries,
the per-node statistics that replace the fields (`snp/nodes.npz`: per tap
and node the diagonal set, cluster sizes, signal and noise), the heads'
reports, the pruning summaries with the masks' counts, and the per-image
correctness vectors the paired tests use. `write_report` on it rebuilds
`REPORT.md` in seconds, without a model or data
(`python scripts/rebuild_report.py EVIDENCE_DIR`).
"""

import os
import shutil

import numpy as np

from keras_snp.snp import clusters
from keras_snp.utils import UsageError
from keras_snp.utils import atomic_path
from keras_snp.utils import load_npz
from keras_snp.utils import read_json

#: Files copied as they are when the run has them (run.json is required).
COPIED = (
    "run.json",
    "NOTES.md",
    "readout_epochs.json",
    "snp/summary.json",
    "snp/readout_seeds.json",
    "heads/heads.json",
    "pruned/pruning.json",
    "pruned/sweep.json",
    "pruned/predictions.npz",
    "pruned/sweep_predictions.npz",
    "pruned/fine_tunes.json",
    "pruned/fine_tune_predictions.npz",
    "pruned/bench.json",
    "pruned/snp/summary.json",
    "pruned/heads/heads.json",
    "control/snp/summary.json",
    "control/heads/heads.json",
)
#: The SNP folders whose fields become per-node statistics: the trained
#: model's and the untrained control's (`control` stage).
SNP_DIRS = ("snp", os.path.join("control", "snp"))


def node_arrays(V, theta):
    """The per-node statistics of `(nodes, K, K)` fields, as arrays:
    `diag` (|D_d|), `clusters`, `signal`, `noise`, `sizes` (every cluster
    size, node after node) and `diag_mask` (`(nodes, K)` bits, packed)."""
    table = clusters.node_table(V, theta)
    sizes = [s for node in table["sizes"] for s in node]
    return {
        "diag": table["diag"],
        "clusters": table["clusters"],
        "signal": table["signal"],
        "noise": table["noise"],
        "sizes": np.asarray(sizes, "int32"),
        "diag_mask": np.packbits(clusters.diagonal_mask(V, theta), axis=-1),
    }


def tables_from_nodes(arrays):
    """`{tap: node_table}` of what `node_arrays` wrote into `nodes.npz`."""
    taps = sorted({key.rsplit(".", 1)[0] for key in arrays})
    out = {}
    for tap in taps:
        counts = arrays[f"{tap}.clusters"].astype(int)
        sizes = np.split(arrays[f"{tap}.sizes"], np.cumsum(counts)[:-1])
        out[tap] = {
            "diag": arrays[f"{tap}.diag"],
            "clusters": arrays[f"{tap}.clusters"],
            "signal": arrays[f"{tap}.signal"],
            "noise": arrays[f"{tap}.noise"],
            "sizes": sizes,
        }
    return out


def node_tables(run_dir, theta, snp_dir="snp"):
    """`{tap: node_table}` of a run folder (from `<snp_dir>/snp.npz`) or of
    its evidence (from `<snp_dir>/nodes.npz`); None when it has neither."""
    fields = os.path.join(run_dir, snp_dir, "snp.npz")
    if os.path.isfile(fields):
        arrays = load_npz(fields)
        names = sorted(k[:-2] for k in arrays if k.endswith(".V"))
        return {n: clusters.node_table(arrays[f"{n}.V"], theta) for n in names}
    nodes = os.path.join(run_dir, snp_dir, "nodes.npz")
    if os.path.isfile(nodes):
        return tables_from_nodes(load_npz(nodes))
    return None


def write_evidence(run_dir, out_dir):
    """Writes the evidence of `run_dir`'s report into `out_dir`
    (atomically); returns `out_dir`."""
    if not os.path.isfile(os.path.join(run_dir, "run.json")):
        raise UsageError(f"{run_dir} is not a run folder (no run.json).")
    fields = os.path.join(run_dir, "snp", "snp.npz")
    if not os.path.isfile(fields):
        raise UsageError(
            f"{run_dir} has no snp/snp.npz: run its snp stage first."
        )
    theta = read_json(os.path.join(run_dir, "snp", "summary.json"))["theta"]
    with atomic_path(out_dir) as tmp:
        for rel in COPIED:
            source = os.path.join(run_dir, rel)
            if os.path.isfile(source):
                os.makedirs(
                    os.path.dirname(os.path.join(tmp, rel)) or tmp,
                    exist_ok=True,
                )
                shutil.copyfile(source, os.path.join(tmp, rel))
        for snp_dir in SNP_DIRS:
            fields = os.path.join(run_dir, snp_dir, "snp.npz")
            if os.path.isfile(fields):
                _write_nodes(fields, theta, os.path.join(tmp, snp_dir))
    return out_dir


def _write_nodes(fields, theta, out_dir):
    arrays = load_npz(fields)
    nodes = {}
    for key in sorted(arrays):
        if key.endswith(".V"):
            tap = key[:-2]
            for name, value in node_arrays(arrays[key], theta).items():
                nodes[f"{tap}.{name}"] = value
    os.makedirs(out_dir, exist_ok=True)
    with open(os.path.join(out_dir, "nodes.npz"), "wb") as f:
        np.savez_compressed(f, **nodes)
