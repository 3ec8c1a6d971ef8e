"""ANDC pruning scopes: names, aliases and combinations (plain Python, so
the command line checks `--scope` without starting Keras)."""

# ANDC and its controls at the same per-layer sparsity.
METHODS = ("andc", "random", "magnitude")

LAYER_SCOPES = ("readout", "ff", "attn_proj")
SCOPES = LAYER_SCOPES + ("all",)
_ALIASES = {"all": LAYER_SCOPES, "internal": ("ff", "attn_proj")}
# The dilution-accuracy sweep's default grid of SNP thresholds.
DEFAULT_THETAS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.7)


def parse_scope(scope):
    """The layer scopes of `scope`, in the canonical order.

    Args:
        scope: `"readout"`, `"ff"`, `"attn_proj"`, `"all"`, `"internal"`
            (`ff` and `attn_proj`), a combination joined by `+` or `,`, or
            a list of those.

    Returns:
        A non-empty tuple, a subset of `LAYER_SCOPES` in its order.

    Example:
    >>> parse_scope("ff+readout")
    ('readout', 'ff')
    >>> parse_scope("all")
    ('readout', 'ff', 'attn_proj')
    """
    parts = scope
    if isinstance(scope, str):
        parts = scope.replace(",", "+").split("+")
    chosen = set()
    for part in parts:
        part = str(part).strip()
        if part in _ALIASES:
            chosen.update(_ALIASES[part])
        elif part in LAYER_SCOPES:
            chosen.add(part)
        else:
            raise ValueError(
                f"`scope` must be one of {SCOPES} (or `internal`), or a "
                "combination joined by `+` such as `readout+ff`. Received: "
                f"scope={scope!r}"
            )
    return tuple(s for s in LAYER_SCOPES if s in chosen)


def scope_name(scope):
    """The canonical name of a scope: `"all"` or parts joined by `+`.

    Example:
    >>> scope_name("ff,readout"), scope_name(["readout", "ff", "attn_proj"])
    ('readout+ff', 'all')
    """
    parts = parse_scope(scope)
    return "all" if parts == LAYER_SCOPES else "+".join(parts)


def point_key(scope, theta, method):
    """The key of a sweep point's per-image hits: `"scope|theta|method"`.

    Example:
    >>> point_key("all", 0.3, "andc")
    'all|0.3|andc'
    """
    return f"{scope}|{float(theta)}|{method}"
