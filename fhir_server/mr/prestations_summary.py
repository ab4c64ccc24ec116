"""R9 the résumé des prestations (claims summary), written by the CNS.

The first one, at the effective date, covers the three previous years; then at every
anniversary of the effective date, the year just ended.  Never services before
1 July 2016 (settings.prestations_summary_floor).

*Interpretation*: "the three previous years" = effective − 3 years … effective − 1 day;
"the year just ended" at anniversary n = effective + (n−1) years … effective + n years − 1 day.
A period that ends before the floor is empty (None); one that straddles it starts on it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .calendar import ONE_DAY, Span, add_years
from .prestations import Prestation
from .settings import DEFAULT_SETTINGS, MrRuleSettings

__all__ = ["SummaryPeriod", "summary_periods", "summary_due_on", "prestations_in"]


@dataclass(frozen=True, slots=True)
class SummaryPeriod:
    """One résumé des prestations: issued on ``issued_on``, covering ``covers`` (None: nothing
    to cover, all before the floor)."""

    issued_on: date
    covers: Span | None
    anniversary: int
    """0 for the first (at the effective date), n for the n-th anniversary."""


def _clip(start: date, end: date, floor: date) -> Span | None:
    if end < floor:
        return None
    return Span(max(start, floor), end)


def _period(effective: date, n: int, settings: MrRuleSettings) -> SummaryPeriod:
    floor = settings.prestations_summary_floor
    if n == 0:
        return SummaryPeriod(
            effective, _clip(add_years(effective, -settings.first_summary_years), effective - ONE_DAY, floor), 0
        )
    issued = add_years(effective, n)
    return SummaryPeriod(issued, _clip(add_years(effective, n - 1), issued - ONE_DAY, floor), n)


def summary_periods(
    effective: date, until: date, last_day: date | None = None, *, settings: MrRuleSettings = DEFAULT_SETTINGS
) -> list[SummaryPeriod]:
    """R9: every résumé des prestations issued from the effective date up to ``until``
    (inclusive), and not after the relationship's last day."""
    stop = min(until, last_day) if last_day is not None else until
    out: list[SummaryPeriod] = []
    n = 0
    while True:
        period = _period(effective, n, settings)
        if period.issued_on > stop:
            return out
        out.append(period)
        n += 1


def summary_due_on(
    effective: date, day: date, last_day: date | None = None, *, settings: MrRuleSettings = DEFAULT_SETTINGS
) -> SummaryPeriod | None:
    """R9: the latest résumé des prestations issued on or before ``day`` (the document
    $prestations-summary builds for that date), or None before the effective date."""
    periods = summary_periods(effective, day, last_day, settings=settings)
    return periods[-1] if periods else None


def prestations_in(period: SummaryPeriod, prestations: Iterable[Prestation]) -> list[Prestation]:
    """R9: the services a résumé covers, in date order (none if its period is empty)."""
    if period.covers is None:
        return []
    span = period.covers
    return sorted((p for p in prestations if span.covers(p.day)), key=lambda p: p.day)
