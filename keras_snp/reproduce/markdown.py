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


def ci(low, high, digits=4):
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"
