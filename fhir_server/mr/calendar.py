"""Pure date helpers for the rules: month arithmetic, semesters, inclusive spans.

Every rule date is a Luxembourg calendar date (``datetime.date``).  Month arithmetic
clamps to the end of the month: 31 Jan + 1 month = 28 Feb (29 Feb in a leap year),
29 Feb 2024 + 12 months = 28 Feb 2025.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

__all__ = [
    "ONE_DAY",
    "Span",
    "add_months",
    "add_years",
    "day_before",
    "first_of_next_month",
    "last_day_of_month",
    "local_date",
    "semester_start",
    "next_semester_start",
]

ONE_DAY = timedelta(days=1)


def last_day_of_month(d: date) -> date:
    """The last day of ``d``'s month (28, 29, 30 or 31)."""
    return d.replace(day=_stdlib_calendar.monthrange(d.year, d.month)[1])


def add_months(d: date, months: int) -> date:
    """``d`` moved by ``months`` (may be negative), clamped to the end of the month.

    31 Jan 2025 + 1 → 28 Feb 2025; 31 Jan 2024 + 1 → 29 Feb 2024; 29 Feb 2024 + 12 → 28 Feb 2025.
    """
    index = d.year * 12 + (d.month - 1) + months
    year, month0 = divmod(index, 12)
    last = _stdlib_calendar.monthrange(year, month0 + 1)[1]
    return date(year, month0 + 1, min(d.day, last))


def add_years(d: date, years: int) -> date:
    """``d`` moved by whole years (29 Feb → 28 Feb in a non-leap year)."""
    return add_months(d, 12 * years)


def day_before(d: date) -> date:
    return d - ONE_DAY


def first_of_next_month(d: date) -> date:
    """The first day of the month after ``d``'s (R4): 10 Nov 2024 → 1 Dec 2024, 31 Dec 2024 → 1 Jan 2025."""
    return last_day_of_month(d) + ONE_DAY


def semester_start(d: date) -> date:
    """First day of ``d``'s calendar half-year: 1 Jan or 1 Jul."""
    return date(d.year, 1 if d.month <= 6 else 7, 1)


def next_semester_start(d: date) -> date:
    """First day of the half-year after ``d``'s."""
    return date(d.year, 7, 1) if d.month <= 6 else date(d.year + 1, 1, 1)


def local_date(instant: datetime, zone: str = "Europe/Luxembourg") -> date:
    """The calendar date of ``instant`` in ``zone`` (Luxembourg by default).

    2024-12-31T23:30:00Z is 1 Jan 2025 in Luxembourg.  A naive datetime is refused: its
    date would depend on the server's clock zone.
    """
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"instant must carry a time zone, got naive {instant.isoformat()}")
    return instant.astimezone(ZoneInfo(zone)).date()


@dataclass(frozen=True, slots=True)
class Span:
    """Dates from ``start`` to ``end``, both inclusive, either open (None) — like FHIR Period."""

    start: date | None = None
    end: date | None = None

    def __post_init__(self) -> None:
        if self.start is not None and self.end is not None and self.end < self.start:
            raise ValueError(f"span ends ({self.end}) before it starts ({self.start})")

    def covers(self, day: date) -> bool:
        return (self.start is None or self.start <= day) and (self.end is None or day <= self.end)
