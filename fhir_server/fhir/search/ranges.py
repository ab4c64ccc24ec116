"""R4 prefix semantics as bounds on a resource's range [low, high], for every backend to render
(https://hl7.org/fhir/R4/search.html#prefix).

A value with prefix ``p`` and range [sl, sh] matches a resource whose range [low, high]
meets all of :func:`prefix_bounds`; ``ne`` is the negation of ``eq``'s bounds.
"""

from __future__ import annotations

from typing import Literal

from fhir_server.fhir.search.query import Clause, Criterion, QuantityValue, RangeValue

Side = Literal["low", "high"]
Operator = Literal["<", "<=", ">", ">="]
Bound = tuple[Side, Operator, float]


def prefix_bounds(value: RangeValue | QuantityValue) -> list[Bound]:
    """The bounds to AND (for ``ne``: the bounds of ``eq``, to negate)."""
    p, sl, sh = value.prefix, value.low, value.high
    if p in ("eq", "ne"):  # low <= sh follows from the others; it bounds an index range scan on low
        return [("low", ">=", sl), ("low", "<=", sh), ("high", "<=", sh)]
    if p == "gt":
        return [("high", ">", sh)]
    if p == "lt":
        return [("low", "<", sl)]
    if p == "ge":
        return [("high", ">=", sl)]
    if p == "le":
        return [("low", "<=", sh)]
    if p == "sa":
        return [("low", ">", sh)]
    if p == "eb":
        return [("high", "<", sl)]
    return [("low", "<=", sh), ("high", ">=", sl)]  # ap: overlap with the widened range


def range_limits(values: list[RangeValue]) -> tuple[float | None, float | None]:
    """(a value high is at least, a value low is at most) implied by ANDed values, since
    low <= high; None where nothing bounds it. Lets a store scan only a window of rows."""
    lowest_high: float | None = None
    highest_low: float | None = None
    for value in values:
        if value.prefix == "ne":
            continue
        for _, op, bound in prefix_bounds(value):
            if op in (">", ">="):
                lowest_high = bound if lowest_high is None else max(lowest_high, bound)
            else:
                highest_low = bound if highest_low is None else min(highest_low, bound)
    return lowest_high, highest_low


def mergeable_date(criterion: Criterion) -> bool:
    """A single-valued date clause, so that clauses on one parameter can share one sub-query
    (for a resource with several values of that date, they then hold for the same value)."""
    return (
        isinstance(criterion, Clause)
        and criterion.kind == "date"
        and criterion.missing is None
        and len(criterion.values) == 1
        and criterion.values[0].prefix != "ne"  # type: ignore[union-attr]
    )
