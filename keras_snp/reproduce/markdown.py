"""Numbers as the reproduction report prints them."""

import math


def fmt(value, digits=4):
    """A number as the report prints it; undefined ones (None, NaN, inf:
    the run's JSON files hold them as `null`) as `n/a`, so a report
    rebuilt from those files reads as the first."""
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def p_value(null):
    """A null's p as the verdict reads it: Holm-adjusted where the heads
    stage adjusted it (then the raw p in brackets), else raw."""
    if null.get("p_holm") is not None:
        return f"{fmt(null['p_holm'], 3)} (raw {fmt(null.get('p'), 3)})"
    return fmt(null.get("p"), 3)


def ci(low, high, digits=4):
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"
