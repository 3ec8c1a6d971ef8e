"""The per-node numbers of the pages, in one forward pass over the test
split.

For every node `d` of every SNP tap and every label `c` of its diagonal
set `D_d` (the union of its clusters), the `top_k` test images that drive
the node's field `phi_d(x, c) = sum_t W[c, t, d] * scale[d] * A(x)[t, d]`
hardest (METHOD.md section 2, step 3), with the node's activation map
`A(x)[:, d]` on each. Without the readout weights `W` (a run saved without
`--save-readouts`, reloaded) the ranking falls back to the node's mean
activation over tokens among the test images of label `c`, and says so
(`field` is `"activation"`).

The running top-k over batches keeps, per (node, label) pair, the best
`top_k` scores, ties broken by the lower test index, so the result is the
exact argmax of a slow per-node loop (`tests/pages/collect_test.py`).

Node ablation is the costly part: every silenced node needs a pass over
the test split. `ablation_nodes` nodes per tap (those with the most
diagonal labels) are silenced alone, then with their cluster-mates, with
the hooked API (`keras_snp.sites.AblationModel`, `per_label_accuracy`).
"""

import dataclasses
import logging
import time

import numpy as np

from keras_snp.pages.settings import PagesSettings
from keras_snp.snp import clusters

logger = logging.getLogger(__name__)

PAIR_CHUNK = 2048


@dataclasses.dataclass
class TapNodes:
    """The pages' numbers of one tap.

    Attributes:
        name: the tap.
        stats: `[NodeStats]` per node (diagonal set, clusters, noise).
        pair_node, pair_label: `(P,)` int, one entry per node and label of
            its diagonal set.
        index: `(P, top_k)` int64 test indices, best first (-1: none).
        score: `(P, top_k)` float32 scores of those images.
        maps: `(P, top_k, gh * gw)` float16 activation maps (pooled to the
            grid), or None when the tap has no token grid.
        grid: `(gh, gw)` or None.
        field: `"readout"` (scores are fields) or `"activation"`.
        ablated: `{node: {"alone": (K,), "mates": (K,) or None,
            "mate_nodes": [int]}}`: per-label accuracy change (silenced
            minus intact).
    """

    name: str
    stats: list
    pair_node: np.ndarray
    pair_label: np.ndarray
    index: np.ndarray
    score: np.ndarray
    maps: np.ndarray | None
    grid: tuple | None
    field: str
    ablated: dict = dataclasses.field(default_factory=dict)

    def pairs_of(self, node):
        """Row indices of `node`'s pairs (one per diagonal label)."""
        return np.flatnonzero(self.pair_node == node)


@dataclasses.dataclass
class NodesData:
    """What `collect_nodes` returns: per tap `TapNodes`, the test labels
    and thumbnails, the intact per-label accuracy, timings."""

    taps: dict
    labels: np.ndarray
    thumbs: np.ndarray
    base_per_label: np.ndarray | None
    seconds: dict
    ablation_images: int = 0


def node_stats(tap, theta):
    """`[NodeStats]` of every node of a `TapResult`."""
    return [clusters.node_stats(v, theta) for v in tap.V]


def pairs(stats):
    """`(pair_node, pair_label)`: every node with every label of its
    diagonal set."""
    nodes = [d for d, s in enumerate(stats) for _ in s.diag]
    labels = [c for s in stats for c in s.diag]
    return np.asarray(nodes, "int64"), np.asarray(labels, "int64")


def token_grid(spec):
    """`(gh, gw, skip)` of a tap's tokens: its positions as an image grid,
    and how many leading tokens are not on it (a class token); None when
    the tokens form no grid (one token, or a count that is no square)."""
    shape = tuple(spec.shape)
    point = getattr(spec.site, "point", "output")
    if len(shape) == 3 and point != "heads":
        return int(shape[0]), int(shape[1]), 0
    tokens = int(spec.tokens)
    for skip in (0, 1):
        side = int(round(np.sqrt(tokens - skip)))
        if tokens - skip > 1 and side * side == tokens - skip:
            return side, side, skip
    return None


def pool_maps(maps, grid, max_grid):
    """`(..., gh * gw)` maps average-pooled so no side exceeds
    `max_grid`; returns `(maps, (gh', gw'))`."""
    gh, gw = grid
    f = _pool_factor(grid, max_grid)
    if f == 1:
        return maps, (gh, gw)
    lead = maps.shape[:-1]
    m = maps.reshape(*lead, gh, gw)[..., : gh // f * f, : gw // f * f]
    m = m.reshape(*lead, gh // f, f, gw // f, f).mean(axis=(-3, -1))
    return m.reshape(*lead, -1), (gh // f, gw // f)


def _pool_factor(grid, max_grid):
    return max(1, int(np.ceil(max(grid) / max_grid)))


class RunningTopK:
    """The best `k` scores per row over batches, ties to the lower index,
    with each winner's activation map."""

    def __init__(self, rows, k, tokens):
        self.score = np.full((rows, k), -np.inf, "float32")
        self.index = np.full((rows, k), -1, "int64")
        self.maps = np.zeros((rows, k, tokens), "float32") if tokens else None
        self.k = k

    def update(self, scores, offset, maps_of=None):
        """`scores` `(B, rows)` of the test images `offset..offset+B-1`;
        `maps_of(rows, images)` gives the `(rows, k, tokens)` maps."""
        b = scores.shape[0]
        combined = np.concatenate([self.score, scores.T], axis=1)
        order = np.argsort(-combined, axis=1, kind="stable")[:, : self.k]
        rows = np.arange(len(order))[:, None]
        new_index = np.where(
            order < self.k,
            np.take_along_axis(self.index, np.minimum(order, self.k - 1), 1),
            offset + order - self.k,
        )
        if self.maps is not None:
            fresh = order >= self.k
            if fresh.any():
                batch = np.clip(order - self.k, 0, b - 1)
                old = self.maps[rows, np.minimum(order, self.k - 1)]
                self.maps = np.where(fresh[..., None], maps_of(batch), old)
            else:
                self.maps = self.maps[rows, order]
        self.score = combined[rows, order]
        self.index = new_index
        self.index[~np.isfinite(self.score)] = -1


def _thumbs(images, size):
    """`(B, size, size, 3)` uint8 thumbnails of 0..255 images."""
    images = np.clip(np.asarray(images, "float32"), 0, 255)
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    if images.shape[1:3] == (size, size):
        return images.astype("uint8")
    from PIL import Image

    return np.stack(
        [
            np.asarray(
                Image.fromarray(x.astype("uint8")).resize(
                    (size, size), Image.BILINEAR
                )
            )
            for x in images
        ]
    )


def _int_labels(labels):
    labels = np.asarray(labels)
    return labels.argmax(-1) if labels.ndim == 2 else labels.astype("int64")


def _batches(data):
    for batch in data:
        images, labels = batch[0], batch[1]
        yield np.asarray(images), _int_labels(labels)


class _TapState:
    def __init__(self, spec, tap, stats, settings, readout):
        self.spec, self.tap = spec, tap
        self.node, self.label = pairs(stats)
        self.grid = token_grid(spec)
        self.max_grid = settings.max_grid
        self.pooled_grid = None
        if self.grid is not None:
            f = _pool_factor(self.grid[:2], settings.max_grid)
            self.pooled_grid = (self.grid[0] // f, self.grid[1] // f)
        tokens = int(np.prod(self.pooled_grid)) if self.grid else 0
        self.top = RunningTopK(len(self.node), settings.top_k, tokens)
        self.W = None
        if readout and tap.W is not None and len(self.node):
            scale = 1.0 if tap.scale is None else tap.scale[self.node]
            # (t, P): each pair's readout column for its label
            self.W = (
                tap.W[self.label, :, self.node] * np.reshape(scale, (-1, 1))
            ).T
            self.W = np.ascontiguousarray(self.W, "float32")
        self.pooled = tap.W is not None and tap.W.shape[1] == 1 < tap.tokens

    def scores(self, A, labels):
        """`(B, P)` scores of the batch's images for every pair."""
        if self.W is None:
            act = A.mean(axis=1)[:, self.node]  # (B, P)
            own = labels[:, None] == self.label[None, :]
            return np.where(own, act, -np.inf).astype("float32")
        x = A.mean(axis=1, keepdims=True) if self.pooled else A
        out = np.empty((len(A), len(self.node)), "float32")
        for s in range(0, len(self.node), PAIR_CHUNK):
            part = slice(s, s + PAIR_CHUNK)
            out[:, part] = np.einsum(
                "btp,tp->bp", x[:, :, self.node[part]], self.W[:, part]
            )
        return out

    def update(self, A, labels, offset):
        if not len(self.node):
            return
        grid = self.grid

        def maps_of(batch):
            if grid is None:
                return None
            gh, gw, skip = grid
            on_grid = A[:, skip : skip + gh * gw, :]  # (B, tokens, n)
            on_grid, _ = pool_maps(
                np.swapaxes(on_grid, 1, 2), (gh, gw), self.max_grid
            )
            # (P, k, tokens) of image `batch[p, j]`, node `node[p]`
            return on_grid[batch, self.node[:, None], :]

        self.top.update(self.scores(A, labels), offset, maps_of)


def tap_sites(model, specs):
    """The `Site` of every tap spec (an adapter's where it has one)."""
    from keras_snp.sites import find_sites
    from keras_snp.snp.taps import site_of

    try:
        found = {s.name: s for s in find_sites(model)}
    except ValueError:
        found = {}
    return {
        spec.name: found.get(spec.name) or site_of(model, spec)
        for spec in specs
    }


def ablation_picks(stats, count):
    """The nodes to silence: the `count` with the most diagonal labels
    (ties to the lower index); every node for -1."""
    sizes = np.array([len(s.diag) for s in stats])
    order = np.argsort(-sizes, kind="stable")
    order = order[sizes[order] > 0]
    return order.tolist() if count < 0 else order[:count].tolist()


def cluster_mates(stats, node):
    """Nodes of the tap whose diagonal set holds all of `node`'s largest
    cluster (`node` included)."""
    if not stats[node].clusters:
        return [node]
    main = max(stats[node].clusters, key=len)
    return [d for d, s in enumerate(stats) if set(main) <= set(s.diag)]


def collect_nodes(
    model,
    snp_result,
    test,
    settings=None,
    taps=None,
    verbose=1,
):
    """The per-node numbers of the pages.

    Args:
        model: the trained model the SNP result was measured on.
        snp_result: its `SNPResult`.
        test: the test split, batches of `(images 0..255, labels)` (int or
            one-hot), iterated once for the images and once per ablation.
        settings: `PagesSettings`.
        taps: tap names (default: all of the result's).
        verbose: log progress.

    Returns:
        `NodesData`.
    """
    from keras import ops

    from keras_snp.snp.taps import resolve_taps
    from keras_snp.snp.taps import tap_model

    settings = settings or PagesSettings()
    names = list(taps or snp_result.taps)
    specs = resolve_taps(model, names)
    theta = snp_result.theta
    start = time.monotonic()
    states = []
    for spec in specs:
        tap = snp_result.taps[spec.name]
        states.append(
            _TapState(spec, tap, node_stats(tap, theta), settings, True)
        )
    net = tap_model(model, specs)
    labels, thumbs, offset = [], [], 0
    for images, y in _batches(test):
        outputs = net.predict_on_batch(images)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for state, A in zip(states, outputs):
            A = np.asarray(ops.convert_to_numpy(A), "float32")
            state.update(A.reshape(len(A), -1, A.shape[-1]), y, offset)
        labels.append(y)
        thumbs.append(_thumbs(images, settings.thumb_size))
        offset += len(y)
    seconds = {"forward": time.monotonic() - start}
    result = {}
    for state in states:
        maps, grid = state.top.maps, state.pooled_grid
        if maps is not None:
            maps = maps.astype("float16")
        result[state.spec.name] = TapNodes(
            name=state.spec.name,
            stats=node_stats(state.tap, theta),
            pair_node=state.node,
            pair_label=state.label,
            index=state.top.index,
            score=state.top.score,
            maps=maps,
            grid=grid,
            field="readout" if state.W is not None else "activation",
        )
    labels = np.concatenate(labels) if labels else np.zeros(0, "int64")
    data = NodesData(
        taps=result,
        labels=labels,
        thumbs=np.concatenate(thumbs) if thumbs else np.zeros((0,)),
        base_per_label=None,
        seconds=seconds,
    )
    if settings.ablation_nodes:
        start = time.monotonic()
        ablate_nodes(model, specs, data, test, settings, snp_result, verbose)
        seconds["ablation"] = time.monotonic() - start
    return data


def first_images(data, count):
    """The first `count` images of `data` as a list of batches (all of
    them when `count` is None)."""
    kept, seen = [], 0
    for images, labels in data:
        if count is not None and seen >= count:
            break
        images, labels = np.asarray(images), np.asarray(labels)
        if count is not None:
            images, labels = images[: count - seen], labels[: count - seen]
        kept.append((images, labels))
        seen += len(images)
    return kept


def ablate_nodes(model, specs, data, test, settings, snp_result, verbose=1):
    """Fills `data.taps[...].ablated` and `data.base_per_label`: each
    picked node silenced alone, then with its cluster-mates."""
    from keras_snp.sites import AblationModel
    from keras_snp.sites import per_label_accuracy

    k = snp_result.num_classes
    test = first_images(test, settings.ablation_images)
    data.ablation_images = sum(len(images) for images, _ in test)
    sites = tap_sites(model, specs)
    ablation = AblationModel(model, list(sites.values()))
    base = per_label_accuracy(model, test, k)
    data.base_per_label = base
    jobs = []
    for spec in specs:
        tap = data.taps[spec.name]
        for node in ablation_picks(tap.stats, settings.ablation_nodes):
            jobs.append((spec.name, node))
    for i, (name, node) in enumerate(jobs):
        tap, site = data.taps[name], sites[name]
        ablation.silence({site: [node]})
        alone = per_label_accuracy(ablation, test, k) - base
        mates = cluster_mates(tap.stats, node)
        together = None
        if len(mates) > 1:
            ablation.silence({site: mates})
            together = per_label_accuracy(ablation, test, k) - base
        tap.ablated[node] = {
            "alone": alone,
            "mates": together,
            "mate_nodes": mates,
        }
        if verbose:
            logger.info(
                "[pages] silenced %s node %d (%d/%d)",
                name,
                node,
                i + 1,
                len(jobs),
            )
    ablation.silence({})
