"""SNP results in memory and on disk (`snp/summary.json`, `snp/snp.npz`).

Plain numpy; no backend needed to read or write them.
"""

import dataclasses
import os

import numpy as np

from keras_snp.snp import clusters
from keras_snp.utils import atomic_path
from keras_snp.utils import load_npz
from keras_snp.utils import read_json
from keras_snp.utils import write_json

TAP_KINDS = ("mha", "ff", "res", "other")


@dataclasses.dataclass
class TapResult:
    """The SNP of every node of one tap.

    Attributes:
        name: the layer whose output is the tap.
        kind: `"mha"`, `"ff"`, `"res"` or `"other"`.
        encoder: encoder index (from 1) or None.
        V: `(nodes, K, K)` float32 raw mean fields on the test split.
        head: `(nodes,)` int, the head of each node, -1 outside MHA taps.
        tokens: tokens (or positions) per node in the tap.
        readout_accuracy: test accuracy of the full readout.
        W: `(K, tokens, nodes)` readout weights, or None when not kept
            (`tokens` is 1 for a pooled readout).
        scale: `(nodes,)` factor applied to each node's activations
            before the readout, or None (all ones).
        convergence: how the readout's training ended
            (`keras_snp.snp.solver.Convergence.to_dict()`), or None when
            unknown (results written before it was recorded).
        V_validation: `(nodes, K, K)` the same fields on the validation
            split, or None: the heads stage chooses each head's labels on
            it, so that test images only score them.
    """

    name: str
    kind: str
    encoder: int | None
    V: np.ndarray
    head: np.ndarray
    tokens: int
    readout_accuracy: float = float("nan")
    W: np.ndarray | None = None
    scale: np.ndarray | None = None
    convergence: dict | None = None
    V_validation: np.ndarray | None = None

    @property
    def nodes(self):
        return int(self.V.shape[0])

    def diagonal_mask(self, theta):
        """`(nodes, K)` bool: `mask[d, c]` when label c is in `D_d`."""
        return clusters.diagonal_mask(self.V, theta)

    def stats(self, theta):
        """The METHOD.md step-9 statistics plus the tap's identity."""
        return {
            "layer": self.name,
            "kind": self.kind,
            "encoder": self.encoder,
            "nodes": self.nodes,
            "tokens": int(self.tokens),
            "readout_accuracy": float(self.readout_accuracy),
            **clusters.tap_stats(self.V, theta),
            "convergence": self.convergence,
        }

    @property
    def converged(self):
        """True or False as measured; None when not measured."""
        return (self.convergence or {}).get("converged")


@dataclasses.dataclass
class SNPResult:
    """SNP of several taps of one model on one dataset."""

    taps: dict
    theta: float = clusters.DEFAULT_THETA
    readout: str = "flatten"
    label_names: list | None = None

    @property
    def num_classes(self):
        return int(next(iter(self.taps.values())).V.shape[1])

    def not_converged(self):
        """Names of the taps whose readout is known not to have converged."""
        return [n for n, t in self.taps.items() if t.converged is False]

    def summary(self):
        """The `snp/summary.json` dictionary."""
        return {
            "theta": self.theta,
            "readout": self.readout,
            "num_classes": self.num_classes,
            "taps": {n: t.stats(self.theta) for n, t in self.taps.items()},
        }

    def save(self, directory, save_readouts=False):
        """Writes `summary.json` and `snp.npz` into `directory`, atomically."""
        os.makedirs(directory, exist_ok=True)
        arrays = {}
        for name, tap in self.taps.items():
            arrays[f"{name}.V"] = tap.V.astype("float32")
            arrays[f"{name}.head"] = tap.head.astype("int32")
            if tap.scale is not None:
                arrays[f"{name}.scale"] = tap.scale.astype("float32")
            if tap.V_validation is not None:
                arrays[f"{name}.V_validation"] = tap.V_validation.astype(
                    "float32"
                )
            if save_readouts and tap.W is not None:
                arrays[f"{name}.W"] = tap.W.astype("float32")
        with atomic_path(os.path.join(directory, "snp.npz")) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **arrays)
        summary = self.summary()
        summary["label_names"] = self.label_names
        write_json(os.path.join(directory, "summary.json"), summary)

    @classmethod
    def load(cls, directory):
        """Reads what `save` wrote."""
        summary = read_json(os.path.join(directory, "summary.json"))
        arrays = load_npz(os.path.join(directory, "snp.npz"))
        taps = {}
        for name, info in summary["taps"].items():
            taps[name] = TapResult(
                name=name,
                kind=info["kind"],
                encoder=info["encoder"],
                V=arrays[f"{name}.V"],
                head=arrays[f"{name}.head"],
                tokens=info["tokens"],
                readout_accuracy=info["readout_accuracy"],
                W=arrays[f"{name}.W"] if f"{name}.W" in arrays else None,
                scale=(
                    arrays[f"{name}.scale"]
                    if f"{name}.scale" in arrays
                    else None
                ),
                convergence=info.get("convergence"),
                V_validation=arrays.get(f"{name}.V_validation"),
            )
        return cls(
            taps=taps,
            theta=summary["theta"],
            readout=summary["readout"],
            label_names=summary.get("label_names"),
        )
