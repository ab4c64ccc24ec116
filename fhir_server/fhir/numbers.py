"""Numbers and their implicit precision ranges (https://hl7.org/fhir/R4/search.html#number)."""

from __future__ import annotations

import math
from decimal import Decimal, InvalidOperation


def number_range(value: str | int | float) -> tuple[float, float]:
    """The interval a written number stands for: "100" → [99.5, 100.5], "2.50" → [2.495, 2.505].

    Numbers already parsed from JSON have lost their written precision: they are exact.
    ValueError for non-numbers.
    """
    if isinstance(value, bool):
        raise ValueError("a boolean is not a number")
    if isinstance(value, int | float):
        return float(value), float(value)
    try:
        number = Decimal(value.strip())
    except InvalidOperation:
        raise ValueError(f"'{value}' is not a number") from None
    if not number.is_finite():
        raise ValueError(f"'{value}' is not a finite number")
    exponent = number.as_tuple().exponent
    assert isinstance(exponent, int)
    try:
        half = Decimal(5).scaleb(exponent - 1)
        low, high = float(number - half), float(number + half)
    except (ArithmeticError, ValueError):
        raise ValueError(f"'{value}' is out of range") from None
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"'{value}' is out of range")
    return low, high
