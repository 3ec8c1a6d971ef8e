"""The `heads.json` schema (version 1) and its validator.

`keras_snp/heads/SCHEMA.md` documents every key; this module checks them.
Floats that are undefined (NaN) are written as `null`.
"""

SCHEMA_VERSION = 1
METRICS = (
    "coverage",
    "mean_jaccard",
    "mean_labels_per_head",
    "mean_heads_per_label",
    "mean_entropy",
)

_INT = (int,)
_NUM = (int, float)


class SchemaError(ValueError):
    """`heads.json` does not follow its schema."""


def _fail(where, message):
    raise SchemaError(f"heads.json {where}: {message}")


def _check(obj, where, spec):
    if not isinstance(obj, dict):
        _fail(where, f"expected an object, got {type(obj).__name__}")
    missing = [k for k in spec if k not in obj]
    if missing:
        _fail(where, f"missing keys {missing}")
    for key, kind in spec.items():
        _value(obj[key], f"{where}.{key}", kind)


def _value(value, where, kind):
    nullable = isinstance(kind, tuple) and kind and kind[0] == "null"
    if nullable:
        if value is None:
            return
        kind = kind[1]
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, _INT):
            _fail(where, f"expected an integer, got {value!r}")
    elif kind == "num":
        if isinstance(value, bool) or not isinstance(value, _NUM):
            _fail(where, f"expected a number, got {value!r}")
    elif kind == "bool":
        if not isinstance(value, bool):
            _fail(where, f"expected true/false, got {value!r}")
    elif kind == "str":
        if not isinstance(value, str):
            _fail(where, f"expected a string, got {value!r}")
    elif isinstance(kind, list):
        if not isinstance(value, list):
            _fail(where, f"expected a list, got {type(value).__name__}")
        for i, item in enumerate(value):
            _value(item, f"{where}[{i}]", kind[0])
    elif isinstance(kind, dict):
        _check(value, where, kind)
    elif kind != "any":
        raise AssertionError(kind)


_NULL_STAT = {
    "observed": ("null", "num"),
    "null_mean": ("null", "num"),
    "null_std": ("null", "num"),
    "z": ("null", "num"),
    "p": ("null", "num"),
    "direction": "str",
    "samples": "int",
}
_FLOATS = [("null", "num")]
_HEAD_ONLY = {
    "accuracy": ("null", "num"),
    "per_label": _FLOATS,
    "mean_on_labels": ("null", "num"),
    "mean_on_others": ("null", "num"),
}
_HEAD_ABLATION = {
    "accuracy": ("null", "num"),
    "per_label_drop": _FLOATS,
    "mean_drop_on_labels": ("null", "num"),
    "mean_drop_on_others": ("null", "num"),
    "contrast": ("null", "num"),
}
_HEAD = {
    "head": "int",
    "nodes": ["int"],
    "num_nodes": "int",
    "labels": ["int"],
    "label_names": ["str"],
    "num_labels": "int",
    "n_h": ["int"],
    "diag_strength": _FLOATS,
    "expertise": _FLOATS,
    "null_num_labels": ("null", _NULL_STAT),
    "head_only": ("null", _HEAD_ONLY),
    "ablation": ("null", _HEAD_ABLATION),
}
_ENCODER = {
    "encoder": ("null", "int"),
    "tap": "str",
    "num_heads": "int",
    "metrics": {m: ("null", "num") for m in METRICS},
    "null": "any",
    "symmetry_breaking": "bool",
    "jaccard": [_FLOATS],
    "heads_per_label": ["int"],
    "entropy": _FLOATS,
    "labels_without_expert": ["int"],
    "ablation": (
        "null",
        {
            "base_accuracy": ("null", "num"),
            "base_per_label": _FLOATS,
            "mean_contrast": ("null", "num"),
        },
    ),
    "heads": [_HEAD],
}
_TOP = {
    "schema_version": "int",
    "theta": "num",
    "num_classes": "int",
    "label_names": ["str"],
    "null_samples": "int",
    "seed": "int",
    "p_threshold": "num",
    "claim_metrics": ["str"],
    "metric_directions": "any",
    "head_only_available": "bool",
    "ablation_available": "bool",
    "encoders": [_ENCODER],
}


def validate_heads_json(obj):
    """Raises `SchemaError` unless `obj` is a valid `heads.json` (v1).

    Checks keys and types, and the sizes that tie them together: K-long
    per-label lists, `num_heads` heads, H x H Jaccard, label indices in
    range, names matching indices, `heads_per_label` counting the heads'
    label sets, null statistics for known metrics.

    Example:
    >>> validate_heads_json({"schema_version": 2})
    Traceback (most recent call last):
    ...
    keras_snp.heads.schema.SchemaError: heads.json: `schema_version` must \
be 1, got 2
    """
    if not isinstance(obj, dict) or obj.get("schema_version") != 1:
        got = obj.get("schema_version") if isinstance(obj, dict) else obj
        raise SchemaError(
            f"heads.json: `schema_version` must be {SCHEMA_VERSION}, got {got}"
        )
    _check(obj, "", _TOP)
    K = obj["num_classes"]
    names = obj["label_names"]
    if len(names) != K:
        _fail("label_names", f"expected {K} names, got {len(names)}")
    for e, enc in enumerate(obj["encoders"]):
        where = f"encoders[{e}]"
        H = enc["num_heads"]
        if len(enc["heads"]) != H:
            _fail(where, f"num_heads={H} but {len(enc['heads'])} heads")
        if len(enc["jaccard"]) != H or any(len(r) != H for r in enc["jaccard"]):
            _fail(where + ".jaccard", f"expected {H} x {H}")
        for key in ("heads_per_label", "entropy"):
            if len(enc[key]) != K:
                _fail(f"{where}.{key}", f"expected {K} values")
        for metric, stat in enc["null"].items():
            if metric not in METRICS:
                _fail(f"{where}.null", f"unknown metric {metric!r}")
            _check(stat, f"{where}.null.{metric}", _NULL_STAT)
        if enc["ablation"] and len(enc["ablation"]["base_per_label"]) != K:
            _fail(f"{where}.ablation.base_per_label", f"expected {K} values")
        per_label = [0] * K
        for h, head in enumerate(enc["heads"]):
            hw = f"{where}.heads[{h}]"
            if head["head"] != h:
                _fail(hw, f"`head` must be {h}, got {head['head']}")
            for key in ("n_h", "diag_strength", "expertise"):
                if len(head[key]) != K:
                    _fail(f"{hw}.{key}", f"expected {K} values")
            labels = head["labels"]
            if any(not 0 <= c < K for c in labels):
                _fail(f"{hw}.labels", f"label index out of [0, {K})")
            if head["num_labels"] != len(labels):
                _fail(hw, "`num_labels` != len(labels)")
            if head["label_names"] != [names[c] for c in labels]:
                _fail(f"{hw}.label_names", "names do not match `labels`")
            if head["num_nodes"] != len(head["nodes"]):
                _fail(hw, "`num_nodes` != len(nodes)")
            for block, key in (
                ("head_only", "per_label"),
                ("ablation", "per_label_drop"),
            ):
                if head[block] and len(head[block][key]) != K:
                    _fail(f"{hw}.{block}.{key}", f"expected {K} values")
            for c in labels:
                per_label[c] += 1
        if per_label != enc["heads_per_label"]:
            _fail(
                f"{where}.heads_per_label",
                "does not count the heads' label sets",
            )
    return obj
