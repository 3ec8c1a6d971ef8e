"""What the pages show of a run's pruning: the ANDC connections of each
node, and which node of the pruned model is which node of the unpruned
one (the toggle between the two sites)."""

import logging
import os

import numpy as np

from keras_snp.utils import read_json

logger = logging.getLogger(__name__)

PRUNED_VIEW = "pruned"


def node_twins(run_dir, snp_result, pruned_result):
    """`(to_pruned, to_unpruned)`: per tap both models have, the index of
    each node in the other model (-1: removed by the shrink). Node `i` of
    the pruned model is node `kept_nodes[tap][i]` of `pruned/
    pruning_detail.json`; a tap with no entry there kept every node. A
    tap that cannot be paired (an older run folder) is left out."""
    detail = _read(os.path.join(run_dir, "pruned", "pruning_detail.json"))
    kept = (detail or {}).get("kept_nodes") or {}
    to_pruned, to_unpruned = {}, {}
    for name, tap in snp_result.taps.items():
        other = pruned_result.taps.get(name)
        if other is None:
            continue
        origin = kept.get(name)
        if origin is None and other.nodes == tap.nodes:
            origin = list(range(tap.nodes))
        if origin is None or len(origin) != other.nodes:
            continue
        forward = [-1] * tap.nodes
        for i, o in enumerate(origin):
            forward[int(o)] = i
        to_pruned[name], to_unpruned[name] = forward, [int(o) for o in origin]
    return to_pruned, to_unpruned


def _read(path):
    return read_json(path) if os.path.isfile(path) else None


def andc_connections(model, pruned_dir):
    """`{tap: [connection]}` of the run's ANDC masks, recomputed from
    `pruned/snp_validation` with the scope and theta of
    `pruned/pruning.json`: per masked layer, for the tap it reads, the
    kept outgoing connections of each node, and for the tap it writes the
    kept incoming ones. Empty without a prune stage output or for a model
    the CCT's ANDC does not describe."""
    summary = _read(os.path.join(pruned_dir, "pruning.json"))
    snp_dir = os.path.join(pruned_dir, "snp_validation")
    if model is None or summary is None or not os.path.isdir(snp_dir):
        return {}
    from keras_snp.pruning.andc import connection_masks
    from keras_snp.pruning.andc import layer_sides
    from keras_snp.snp import SNPResult

    try:
        scope, theta = summary["scope"], summary["theta"]
        result = SNPResult.load(snp_dir)
        masks = connection_masks(model, result, theta, scope)
        sides = layer_sides(model, scope)
    except (ValueError, KeyError, OSError) as error:
        logger.warning("pages: no ANDC connections (%s)", error)
        return {}
    found = {}
    for layer, mask in masks.items():
        tap_in, tap_out = sides[layer]
        found.setdefault(tap_in, []).append(
            {
                "layer": layer,
                "direction": "out",
                "other": tap_out or "labels",
                "total": int(mask.shape[1]),
                "kept": [np.flatnonzero(row).tolist() for row in mask],
            }
        )
        if tap_out is not None:
            found.setdefault(tap_out, []).append(
                {
                    "layer": layer,
                    "direction": "in",
                    "other": tap_in,
                    "total": int(mask.shape[0]),
                    "kept": [np.flatnonzero(col).tolist() for col in mask.T],
                }
            )
    return {**found, "_settings": {"scope": scope, "theta": theta}}
