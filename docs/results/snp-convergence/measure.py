"""Converged readouts against the lab's protocol, on real CIFAR-100.

    python docs/results/snp-convergence/measure.py MODEL.keras OUT \
        --npz ../shared/data/cifar100/cifar100.npz \
        --label-names ../shared/data/cifar100/label_names.json#fine_label_names \
        --per-class 100 --taps encoder_2_mha encoder_4_out --part PART

Parts (each writes OUT/PART.json; `summarise.py OUT` renders the page):
- `damping`: passes of the solver to the default tolerance at several
  whitening dampings.
- `tolerance`: one tight solve (relative gradient `--reference`); the
  diagonal sets and clusters at looser tolerances against it.
- `views`: SNP statistics at 1, 2, 4, 8 and 16 cached augmented views
  (`--views-list`), against the most views.
- `lab`: the lab's protocol (streaming SGD, fresh augmentation each epoch,
  no scaling) for `--lab-epochs`, with statistics and the objective at
  epochs 1, 2, 5, 10, 30, 100, 200 (and the last).

Objectives of every readout are evaluated on one independent cache of
`--eval-views` augmented views of the same training images: an estimate of
the expected objective under the lab's augmentation, the same for all.
"""

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
sys.path.insert(0, ROOT)

import keras  # noqa: E402
import numpy as np  # noqa: E402

import keras_snp  # noqa: E402, F401  (registers the layers)
from keras_snp import data as data_lib  # noqa: E402
from keras_snp.snp import clusters  # noqa: E402
from keras_snp.snp import resolve_taps  # noqa: E402
from keras_snp.snp.engine import SNPEngine  # noqa: E402
from keras_snp.snp.readout import ReadoutConfig  # noqa: E402
from keras_snp.snp.readout import int_labels  # noqa: E402
from keras_snp.snp.solver import ReadoutProblem  # noqa: E402
from keras_snp.snp.solver import SolverConfig  # noqa: E402
from keras_snp.snp.solver import solve_readout  # noqa: E402

LAB_SNAPSHOTS = (1, 2, 5, 10, 30, 100, 200)
THETA = clusters.DEFAULT_THETA


class Bench:
    """The model, its data and the caches every part shares."""

    def __init__(self, args):
        self.args = args
        self.model = keras.models.load_model(args.model)
        names = data_lib.read_label_names(args.label_names)
        splits = data_lib.load(
            args.npz,
            32,
            100,
            recipe="none",
            seed=0,
            examples_per_class=args.per_class,
            label_names=names,
        )
        self.train, self.test = splits.train, splits.test
        self.K = int(self.model.outputs[0].shape[-1])
        self.specs = resolve_taps(self.model, args.taps)
        self._test = None
        self._eval = None

    def engine(self, **settings):
        config = ReadoutConfig(**settings).validate()
        return SNPEngine(self.model, self.specs, self.K, config)

    def cache(self, views, seed):
        engine = self.engine(views=views, seed=seed, cache_memory_gb=16)
        return engine.cache_features(self.train, verbose=0)

    def problem(self, cache, index):
        return ReadoutProblem(
            cache.blocks(index, 4096), cache.labels, self.K, 1e-3
        )

    def eval_problems(self):
        if self._eval is None:
            cache = self.cache(self.args.eval_views, seed=1000)
            self._eval = [
                self.problem(cache, i) for i in range(len(self.specs))
            ]
            cache.close()
        return self._eval

    def test_features(self):
        """Per tap: test features `(n, width)` float32 and labels."""
        if self._test is None:
            engine = self.engine()
            feats = [[] for _ in self.specs]
            labels = []
            for images, y in self.test:
                labels.append(int_labels(y))
                for i, f in enumerate(engine.features(np.asarray(images))):
                    f = keras.ops.convert_to_numpy(f)
                    feats[i].append(f.reshape(len(f), -1).astype("float32"))
            labels = np.concatenate(labels)
            self._test = ([np.concatenate(f) for f in feats], labels)
        return self._test

    def readout_stats(self, index, W):
        """Test accuracy, V's statistics and the node table of `W`."""
        feats, labels = self.test_features()
        X = feats[index]
        spec = self.specs[index]
        accuracy = float(np.mean((X @ W).argmax(-1) == labels))
        sums = np.eye(self.K, dtype="float32")[labels].T @ X
        means = (
            sums / np.maximum(np.bincount(labels, minlength=self.K), 1)[:, None]
        )
        Wt = W.reshape(spec.tokens, spec.nodes, self.K)
        Mt = means.reshape(self.K, spec.tokens, spec.nodes)
        V = np.einsum("itn,tnk->nik", Mt, Wt)
        stats = clusters.tap_stats(V, THETA)
        return {"readout_accuracy": accuracy, **stats}, V

    def objective(self, index, W):
        return float(self.eval_problems()[index].objective(W)[0])


def agreement(V, V_ref):
    """Shares of nodes whose diagonal set, and whose clusters, equal the
    reference's."""
    same_diag = same_clusters = 0
    for v, r in zip(V, V_ref):
        a, b = clusters.node_stats(v, THETA), clusters.node_stats(r, THETA)
        same_diag += a.diag == b.diag
        same_clusters += a.clusters == b.clusters
    return same_diag / len(V), same_clusters / len(V)


def part_damping(bench):
    """Passes to the default tolerance at several whitening dampings."""
    cache = bench.cache(bench.args.views, seed=0)
    out = {"views": bench.args.views, "rows": cache.rows, "taps": {}}
    for index, spec in enumerate(bench.specs):
        problem = bench.problem(cache, index)
        rows = []
        for damping in (0.1, 1.0, 10.0):
            config = SolverConfig(damping=damping)
            W, info = solve_readout(problem, config)
            rows.append({"damping": damping, **info.to_dict()})
            print(spec.name, rows[-1], flush=True)
        out["taps"][spec.name] = {"dampings": rows}
        del problem
    cache.close()
    return out


def part_tolerance(bench):
    """One tight solve per tap; `W` is kept when the relative gradient
    first falls below each tolerance and compared with the final one."""
    cache = bench.cache(bench.args.views, seed=0)
    out = {"views": bench.args.views, "rows": cache.rows, "taps": {}}
    tolerances = (1e-2, 1e-3, 3e-4, 1e-4, 3e-5)
    for index, spec in enumerate(bench.specs):
        problem = bench.problem(cache, index)
        kept = {}

        def keep(passes, relative, weights):
            for tol in tolerances:
                if relative <= tol and tol not in kept:
                    kept[tol] = (passes, weights())

        tight = SolverConfig(tolerance=bench.args.reference, max_passes=2000)
        W_ref, ref = solve_readout(problem, tight, monitor=keep)
        print(spec.name, "reference", ref, flush=True)
        _, V_ref = bench.readout_stats(index, W_ref)
        table = []
        for tol in tolerances:
            if tol not in kept:
                continue
            passes, W = kept[tol]
            stats, V = bench.readout_stats(index, W)
            diag, clus = agreement(V, V_ref)
            table.append(
                {
                    "tolerance": tol,
                    "passes": passes,
                    "objective": float(problem.objective(W)[0]),
                    "same_diag": diag,
                    "same_clusters": clus,
                    "readout_accuracy": stats["readout_accuracy"],
                    "mean_diag": stats["mean_diag"],
                    "mean_noise": stats["mean_noise"],
                }
            )
            print(spec.name, table[-1], flush=True)
        out["taps"][spec.name] = {
            "reference": ref.to_dict(),
            "tolerances": table,
        }
        del problem
    cache.close()
    return out


def part_views(bench):
    """The solver at each count of cached views; agreement is against the
    most views, objectives on the cache itself and on the eval cache."""
    counts = sorted(bench.args.views_list, reverse=True)
    out = {"reference_views": counts[0], "taps": {}}
    out["taps"] = {s.name: [] for s in bench.specs}
    Vs = {}
    for views in counts:
        cache = bench.cache(views, seed=0)
        for index, spec in enumerate(bench.specs):
            problem = bench.problem(cache, index)
            W, info = solve_readout(problem)
            stats, V = bench.readout_stats(index, W)
            Vs.setdefault(spec.name, V)
            diag, clus = agreement(V, Vs[spec.name])
            out["taps"][spec.name].append(
                {
                    "views": views,
                    "rows": cache.rows,
                    "passes": info.passes,
                    "seconds": info.seconds,
                    "converged": info.converged,
                    "objective_cached": info.objective,
                    "objective_eval": bench.objective(index, W),
                    "same_diag_as_reference": diag,
                    "same_clusters_as_reference": clus,
                    **stats,
                }
            )
            print(spec.name, out["taps"][spec.name][-1], flush=True)
            del problem
            save(bench.args.out, "views", out)
        cache.close()
    return out


def part_lab(bench):
    epochs = bench.args.lab_epochs
    snapshots = sorted({e for e in LAB_SNAPSHOTS if e <= epochs} | {epochs})
    cache = bench.cache(bench.args.views, seed=0)
    solved = []
    for index in range(len(bench.specs)):
        W, info = solve_readout(bench.problem(cache, index))
        stats, V = bench.readout_stats(index, W)
        solved.append(
            {
                "W": W,
                "V": V,
                "row": {
                    "objective_eval": bench.objective(index, W),
                    "passes": info.passes,
                    "seconds": info.seconds,
                    **stats,
                },
            }
        )
    cache.close()
    out = {
        "epochs": epochs,
        "solver": {s.name: r["row"] for s, r in zip(bench.specs, solved)},
        "lab": {s.name: [] for s in bench.specs},
    }
    engine = bench.engine(solver="lab", epochs=epochs)
    start = time.perf_counter()

    def snapshot(epoch, engine):
        if epoch not in snapshots:
            return
        for index, spec in enumerate(bench.specs):
            W = keras.ops.convert_to_numpy(engine.readouts[index].kernel)
            stats, V = bench.readout_stats(index, W.astype("float64"))
            diag, clus = agreement(V, solved[index]["V"])
            out["lab"][spec.name].append(
                {
                    "epoch": epoch,
                    "seconds": time.perf_counter() - start,
                    "objective_eval": bench.objective(index, W),
                    "same_diag_as_solver": diag,
                    "same_clusters_as_solver": clus,
                    **stats,
                }
            )
            print(spec.name, out["lab"][spec.name][-1], flush=True)
        save(bench.args.out, "lab", out)

    engine.train(bench.train, verbose=0, on_epoch_end=snapshot)
    return out


def part_streaming(bench):
    """Fresh views, warm-started whitened L-BFGS: every epoch caches one
    new augmented view and takes `--stream-passes` passes on it from the
    running solution (the whitening of the first view kept); `W` reported
    is the running solution and the mean of the solutions of the epochs
    after the first quarter (Polyak averaging). A stochastic solver of the
    expectation over the augmentation, as the lab's SGD is."""
    import scipy.optimize

    from keras_snp.snp.solver import Whitening

    epochs, passes = bench.args.stream_epochs, bench.args.stream_passes
    snapshots = sorted({e for e in LAB_SNAPSHOTS if e <= epochs} | {epochs})
    out = {"epochs": epochs, "passes_per_epoch": passes, "taps": {}}
    out["taps"] = {s.name: [] for s in bench.specs}
    config = SolverConfig()
    states = [None] * len(bench.specs)
    start = time.perf_counter()
    for epoch in range(1, epochs + 1):
        cache = bench.cache(1, seed=10_000 + epoch)
        for index, spec in enumerate(bench.specs):
            problem = bench.problem(cache, index)
            problem.precision = "float32"
            if states[index] is None:
                whitening = Whitening(problem, config)
                shape = (problem.features, problem.num_classes)
                states[index] = {
                    "whitening": whitening,
                    "v": np.zeros(np.prod(shape)),
                    "sum": np.zeros(np.prod(shape)),
                    "count": 0,
                    "shape": shape,
                }
            state = states[index]
            whitening, shape = state["whitening"], state["shape"]

            def fun(v, problem=problem, whitening=whitening, shape=shape):
                W = whitening.weights(v.reshape(shape))
                value, grad_W = problem.objective(W)
                return value, whitening.gradient(grad_W).ravel()

            state["v"] = scipy.optimize.minimize(
                fun,
                state["v"],
                jac=True,
                method="L-BFGS-B",
                options={
                    "maxcor": config.memory,
                    "maxfun": passes,
                    "maxiter": passes,
                    "ftol": 0.0,
                    "gtol": 0.0,
                },
            ).x
            if epoch > epochs // 4:
                state["sum"] += state["v"]
                state["count"] += 1
            if epoch in snapshots:
                row = {"epoch": epoch, "seconds": time.perf_counter() - start}
                for label, v in (
                    ("last", state["v"]),
                    ("mean", state["sum"] / max(state["count"], 1)),
                ):
                    if label == "mean" and not state["count"]:
                        continue
                    W = whitening.weights(v.reshape(shape))
                    stats, _ = bench.readout_stats(index, W)
                    row[label] = {
                        "objective_eval": bench.objective(index, W),
                        **stats,
                    }
                out["taps"][spec.name].append(row)
                print(
                    spec.name,
                    epoch,
                    {
                        k: v["objective_eval"]
                        for k, v in row.items()
                        if isinstance(v, dict)
                    },
                    flush=True,
                )
                save(bench.args.out, "streaming", out)
            del problem
        cache.close()
    return out


def part_stream(bench):
    """The engine's `"stream"` solver (keras_snp/snp/stream.py) run to
    `--stream-views` fresh views without stopping, with the averaged
    readout's statistics at the lab's snapshot counts and its diagonal
    sets against the last view's."""
    from keras_snp.snp.stream import solve_stream

    views = bench.args.stream_views
    snapshots = sorted({e for e in LAB_SNAPSHOTS if e <= views} | {views})
    out = {"views": views, "taps": {s.name: [] for s in bench.specs}}
    engine = bench.engine(
        solver="stream",
        stream_views=views,
        stream_tolerance=0.0,
        cache_memory_gb=16,
    )
    start = time.perf_counter()
    kept = {}

    def snapshot(view, states):
        if view not in snapshots:
            return
        for index, spec in enumerate(bench.specs):
            state = states[index]
            W = state.weights()
            stats, V = bench.readout_stats(index, W)
            kept[(spec.name, view)] = V
            out["taps"][spec.name].append(
                {
                    "views": view,
                    "seconds": time.perf_counter() - start,
                    "passes": state.passes,
                    "objective_eval": bench.objective(index, W),
                    "objective_held_out": state.history[-1],
                    **stats,
                }
            )
            print(spec.name, out["taps"][spec.name][-1], flush=True)
        save(bench.args.out, "stream", out)

    solve_stream(engine, bench.train, verbose=0, on_view=snapshot)
    for spec in bench.specs:
        last = kept[(spec.name, views)]
        for row in out["taps"][spec.name]:
            diag, clus = agreement(kept[(spec.name, row["views"])], last)
            row["same_diag_as_last"], row["same_clusters_as_last"] = diag, clus
    return out


def save(folder, part, result):
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{part}.json")
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1, default=float)
    os.replace(path + ".tmp", path)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--npz", required=True)
    parser.add_argument("--label-names", required=True)
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--taps", nargs="+", required=True)
    parser.add_argument("--eval-views", type=int, default=8)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument(
        "--views-list", type=int, nargs="+", default=[1, 2, 4, 8, 16]
    )
    parser.add_argument("--lab-epochs", type=int, default=200)
    parser.add_argument("--reference", type=float, default=1e-5)
    parser.add_argument("--stream-epochs", type=int, default=30)
    parser.add_argument("--stream-passes", type=int, default=5)
    parser.add_argument("--stream-views", type=int, default=120)
    parser.add_argument(
        "--part",
        choices=("damping", "tolerance", "views", "lab", "streaming", "stream"),
        required=True,
    )
    args = parser.parse_args()
    bench = Bench(args)
    part = {
        "damping": part_damping,
        "tolerance": part_tolerance,
        "views": part_views,
        "lab": part_lab,
        "streaming": part_streaming,
        "stream": part_stream,
    }
    start = time.perf_counter()
    result = part[args.part](bench)
    result["wall_seconds"] = time.perf_counter() - start
    result["command"] = " ".join(sys.argv)
    save(args.out, args.part, result)


if __name__ == "__main__":
    main()
