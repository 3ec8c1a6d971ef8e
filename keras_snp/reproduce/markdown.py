"""Numbers as the reproduction report prints them."""


def fmt(value, digits=4):
    """A number as the report prints it (`nan`, `inf` kept readable)."""
    if value is None:
        return "n/a"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    return f"{value:.{digits}f}"


def ci(low, high, digits=4):
    return f"[{fmt(low, digits)}, {fmt(high, digits)}]"
