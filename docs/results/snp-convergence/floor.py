"""How far apart two readouts of the same protocol end: the noise floor of
the diagonal sets.

    python docs/results/snp-convergence/floor.py run MODEL.keras OUT \
        --npz ../shared/data/cifar100/cifar100.npz \
        --label-names ../shared/data/cifar100/label_names.json#fine_label_names \
        --per-class 20 --taps encoder_2_mha encoder_4_out \
        --method lab --seed 0
    python docs/results/snp-convergence/floor.py compare MODEL.keras OUT ...

`run` trains the readouts of `--taps` with one protocol (`lab`: the lab's
streaming SGD for `--epochs`; `stream`: the engine's fresh-view solver;
`lbfgs`: the cached-view solver) and one augmentation seed, and writes
`OUT/floor-METHOD-SEED.npz` (each tap's `W`) and `.json` (its statistics
and its objective on the shared 8-view evaluation cache).

`compare` reads every `floor-*.npz` in OUT and writes `OUT/floor.json`:
for every pair of readouts, the share of nodes with the same diagonal set
and the same clusters; and for every readout, how well the test set itself
resolves its diagonal sets: over `--resamples` class-stratified bootstrap
resamples of the test images, the mean share of nodes whose diagonal set
is that of the full test set, and the share of nodes none of whose labels
flips in more than 5 % of the resamples. Pairs are also compared up to
those unresolved labels.
"""

import argparse
import glob
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from measure import THETA  # noqa: E402
from measure import Bench  # noqa: E402
from measure import agreement  # noqa: E402
from measure import save  # noqa: E402

from keras_snp.snp import clusters  # noqa: E402

UNRESOLVED = 0.05


def run(bench, args):
    settings = {"seed": args.seed, "cache_memory_gb": 16}
    if args.method == "lab":
        settings.update(solver="lab", epochs=args.epochs)
    elif args.method == "stream":
        settings.update(
            solver="stream", stream_views=args.stream_views, stream_tolerance=0
        )
    else:
        settings.update(solver="lbfgs", views=args.views)
    engine = bench.engine(**settings)
    start = time.perf_counter()
    engine.fit(bench.train, verbose=0)
    seconds = time.perf_counter() - start
    name = f"floor-{args.method}-{args.seed}"
    weights, rows = {}, {}
    for index, spec in enumerate(bench.specs):
        W = keras.ops.convert_to_numpy(engine.readouts[index].kernel)
        W = W.astype("float64")
        stats, _ = bench.readout_stats(index, W)
        weights[spec.name] = W.astype("float32")
        rows[spec.name] = {"objective_eval": bench.objective(index, W), **stats}
        print(name, spec.name, rows[spec.name], flush=True)
    np.savez(os.path.join(args.out, name + ".npz"), **weights)
    save(args.out, name, {"seconds": seconds, "settings": settings, **rows})


def test_means(bench, index, counts=None):
    """`(K, width)` class means of the test features; `counts` reweights
    the test images (a bootstrap resample)."""
    feats, labels = bench.test_features()
    X = feats[index]
    weights = np.ones(len(labels)) if counts is None else counts
    onehot = np.eye(bench.K)[labels].T * weights
    return (onehot @ X) / np.maximum(onehot.sum(1), 1)[:, None]


def node_matrices(bench, index, means, W):
    spec = bench.specs[index]
    Wt = W.reshape(spec.tokens, spec.nodes, bench.K)
    Mt = means.reshape(bench.K, spec.tokens, spec.nodes)
    return np.einsum("itn,tnk->nik", Mt, Wt)


def stratified_counts(labels, rng):
    counts = np.zeros(len(labels))
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        draws = rng.choice(members, size=len(members), replace=True)
        np.add.at(counts, draws, 1)
    return counts


def resolution(bench, index, W, resamples, seed=0):
    """`(full (N, K) diagonal masks, (N, K) share of resamples in which
    each label's membership differs from the full test set's, mean share
    of nodes whose whole diagonal set is the full test set's)`."""
    _, labels = bench.test_features()
    full = clusters.diagonal_mask(
        node_matrices(bench, index, test_means(bench, index), W), THETA
    )
    flips = np.zeros(full.shape)
    same = []
    rng = np.random.default_rng(seed)
    for _ in range(resamples):
        counts = stratified_counts(labels, rng)
        means = test_means(bench, index, counts)
        mask = clusters.diagonal_mask(
            node_matrices(bench, index, means, W), THETA
        )
        flips += mask != full
        same.append(np.mean(~(mask != full).any(1)))
    return full, flips / resamples, float(np.mean(same))


def compare(bench, args):
    paths = sorted(glob.glob(os.path.join(args.out, "floor-*-*.npz")))
    readouts = {os.path.basename(p)[6:-4]: np.load(p) for p in paths}
    out = {"resamples": args.resamples, "taps": {}}
    for index, spec in enumerate(bench.specs):
        masks, flips, matrices = {}, {}, {}
        per_readout = {}
        for name, weights in readouts.items():
            W = weights[spec.name].astype("float64")
            masks[name], flips[name], same = resolution(
                bench, index, W, args.resamples
            )
            matrices[name] = node_matrices(
                bench, index, test_means(bench, index), W
            )
            unsure = flips[name] > UNRESOLVED
            per_readout[name] = {
                "same_diag_as_full_test": same,
                "labels_flipping_per_resample": float(
                    flips[name].sum(1).mean()
                ),
                "nodes_fully_resolved": float(np.mean(~unsure.any(1))),
                "mean_diag": float(masks[name].sum(1).mean()),
            }
        pairs = []
        names = sorted(readouts)
        for i, a in enumerate(names):
            for b in names[i + 1 :]:
                diag, clus = agreement(matrices[a], matrices[b])
                unsure = (flips[a] > UNRESOLVED) | (flips[b] > UNRESOLVED)
                differ = (masks[a] != masks[b]) & ~unsure
                pairs.append(
                    {
                        "a": a,
                        "b": b,
                        "same_diag": diag,
                        "same_clusters": clus,
                        "same_diag_up_to_unresolved": float(
                            np.mean(~differ.any(1))
                        ),
                    }
                )
                print(spec.name, pairs[-1], flush=True)
        out["taps"][spec.name] = {"readouts": per_readout, "pairs": pairs}
    save(args.out, "floor", out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=("run", "compare"))
    parser.add_argument("model")
    parser.add_argument("out")
    parser.add_argument("--npz", required=True)
    parser.add_argument("--label-names", required=True)
    parser.add_argument("--per-class", type=int, default=20)
    parser.add_argument("--taps", nargs="+", required=True)
    parser.add_argument("--eval-views", type=int, default=8)
    parser.add_argument(
        "--method", choices=("lab", "stream", "lbfgs"), default="lab"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=200)
    parser.add_argument("--stream-views", type=int, default=60)
    parser.add_argument("--views", type=int, default=2)
    parser.add_argument("--resamples", type=int, default=100)
    args = parser.parse_args()
    os.makedirs(args.out, exist_ok=True)
    bench = Bench(args)
    (run if args.action == "run" else compare)(bench, args)


if __name__ == "__main__":
    main()
