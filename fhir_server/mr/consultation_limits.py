"""R11 consultation limits (reimbursement) and the multi-doctor flag.

For the same doctor, or doctors of the same discipline, the CNS pays at most
1 consultation or visit per 24 hours (except an emergency / SAMU intervention),
2 per 7 days, 12 per semester (except long-stay geriatric care and hospital stays).
Not counted: prescription renewals, series of injections or dressings — only the
categories in :data:`~fhir_server.mr.prestations.LIMITED_CATEGORIES` are.
Flagged, not refused: more than two different doctors of the same discipline within six
consecutive months, without justification.

*Interpretations* (settings): 24 h and 7 days are rolling windows (exactly 24 h / 7 days
later is allowed); services with a date only are compared by calendar day; the semester is
the calendar half-year.  An exempt service is neither limited nor counted by the limit it
is exempt from (an emergency does not use up the day's consultation; it still counts in
the 7 days and the semester).  "Any window containing the new service" is checked, so a
service billed late for an earlier date is judged against services before AND after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TypeVar

from .calendar import add_months, semester_start
from .prestations import LIMITED_CATEGORIES, Prestation
from .settings import DEFAULT_SETTINGS, MrRuleSettings
from .violations import RuleViolation, violation

__all__ = ["LimitDecision", "check_consultation_limits", "adjudicate_consultations"]

P = TypeVar("P", date, datetime)


def _max_in_window(t: P, others: Sequence[P], end: Callable[[P], P]) -> int:
    """The largest number of ``others`` in one window [s, end(s)) that also contains ``t``.

    An optimal window starts at ``t`` or at one of the others (end() is monotone)."""
    starts = [h for h in others if h <= t < end(h)] + [t]
    return max(sum(1 for h in others if s <= h < end(s)) for s in starts)


def _counted(new: Prestation, old: Prestation) -> bool:
    """R11: ``old`` counts against ``new``: same doctor or same discipline, limited category,
    same patient (when known), not the same item."""
    if old is new or (old.id is not None and old.id == new.id):
        return False
    if new.patient_id is not None and old.patient_id is not None and old.patient_id != new.patient_id:
        return False
    return old.category in LIMITED_CATEGORIES and (old.doctor_id == new.doctor_id or old.discipline == new.discipline)


def _uses_times(new: Prestation, others: Iterable[Prestation]) -> bool:
    return new.at is not None and all(o.at is not None for o in others)


def _day_count(new: Prestation, others: list[Prestation], settings: MrRuleSettings) -> int:
    if settings.r11_day_window == "rolling" and _uses_times(new, others):
        return _max_in_window(new.at, [o.at for o in others], lambda s: s + timedelta(hours=24))  # type: ignore[arg-type,return-value,operator]
    return sum(1 for o in others if o.day == new.day)


def _week_count(new: Prestation, others: list[Prestation], settings: MrRuleSettings) -> int:
    if settings.r11_week_window == "calendar":
        week = new.day.isocalendar()[:2]
        return sum(1 for o in others if o.day.isocalendar()[:2] == week)
    if _uses_times(new, others):
        return _max_in_window(new.at, [o.at for o in others], lambda s: s + timedelta(days=7))  # type: ignore[arg-type,return-value,operator]
    return _max_in_window(new.day, [o.day for o in others], lambda s: s + timedelta(days=7))


def _semester_count(new: Prestation, others: list[Prestation], settings: MrRuleSettings) -> int:
    if settings.r11_semester_window == "calendar":
        start = semester_start(new.day)
        return sum(1 for o in others if semester_start(o.day) == start)
    return _max_in_window(new.day, [o.day for o in others], lambda s: add_months(s, 6))


def _doctors_in_window(new: Prestation, others: list[Prestation], months: int) -> set[str]:
    """The largest set of distinct doctors seen in one window of ``months`` consecutive
    months (from s to s + months − 1 day) containing the new service."""
    starts = [o.day for o in others if o.day <= new.day < add_months(o.day, months)] + [new.day]
    best: set[str] = set()
    for s in starts:
        end = add_months(s, months)
        doctors = {o.doctor_id for o in others if s <= o.day < end} | {new.doctor_id}
        if len(doctors) > len(best):
            best = doctors
    return best


def check_consultation_limits(
    new: Prestation, history: Iterable[Prestation], *, settings: MrRuleSettings = DEFAULT_SETTINGS
) -> list[RuleViolation]:
    """R11 for one service against the patient's services already paid (``history``).

    Returns the refusals (severity error, codes r11-24h, r11-7d, r11-semester) and the
    multi-doctor flag (severity warning, code r11-multi-doctor).  [] when the service is
    not a consultation or visit."""
    if new.category not in LIMITED_CATEGORIES:
        return []
    counted = [o for o in history if _counted(new, o)]
    group = f"the same doctor or discipline ({new.discipline})"
    out: list[RuleViolation] = []
    if not new.emergency:
        day_others = [o for o in counted if not o.emergency]
        if _day_count(new, day_others, settings) >= settings.r11_per_24h:
            out.append(
                violation(
                    "R11",
                    "r11-24h",
                    f"at most {settings.r11_per_24h} consultation or visit per 24 hours by {group}, "
                    "except an emergency (SAMU)",
                )
            )
    if _week_count(new, counted, settings) >= settings.r11_per_7_days:
        out.append(
            violation(
                "R11", "r11-7d", f"at most {settings.r11_per_7_days} consultations or visits per 7 days by {group}"
            )
        )
    if not (new.long_stay_geriatric or new.hospital_stay):
        sem_others = [o for o in counted if not (o.long_stay_geriatric or o.hospital_stay)]
        if _semester_count(new, sem_others, settings) >= settings.r11_per_semester:
            out.append(
                violation(
                    "R11",
                    "r11-semester",
                    f"at most {settings.r11_per_semester} consultations or visits per semester by {group}, "
                    "except long-stay geriatric care and hospital stays",
                )
            )
    if not new.justified:
        same_discipline = [o for o in counted if o.discipline == new.discipline]
        doctors = _doctors_in_window(new, same_discipline, settings.r11_multi_doctor_months)
        if len(doctors) > settings.r11_multi_doctor_limit:
            out.append(
                violation(
                    "R11",
                    "r11-multi-doctor",
                    f"{len(doctors)} different doctors of {new.discipline} within "
                    f"{settings.r11_multi_doctor_months} consecutive months without justification "
                    f"({', '.join(sorted(doctors))})",
                    severity="warning",
                )
            )
    return out


@dataclass(frozen=True, slots=True)
class LimitDecision:
    """R11's answer for one service."""

    prestation: Prestation
    violations: tuple[RuleViolation, ...]

    @property
    def refusals(self) -> tuple[RuleViolation, ...]:
        return tuple(v for v in self.violations if v.severity == "error")

    @property
    def warnings(self) -> tuple[RuleViolation, ...]:
        return tuple(v for v in self.violations if v.severity == "warning")

    @property
    def accepted(self) -> bool:
        return not self.refusals


def adjudicate_consultations(
    prestations: Iterable[Prestation],
    history: Iterable[Prestation] = (),
    *,
    settings: MrRuleSettings = DEFAULT_SETTINGS,
) -> list[LimitDecision]:
    """R11 for several new services (e.g. one Claim's items), in date order; each accepted
    one joins the history the next ones are judged against.  Decisions come back in the
    order given."""
    paid = list(history)
    items = list(prestations)
    order = sorted(range(len(items)), key=lambda i: (items[i].day, items[i].at.timestamp() if items[i].at else 0.0))
    decisions: dict[int, LimitDecision] = {}
    for i in order:
        found = check_consultation_limits(items[i], paid, settings=settings)
        decision = LimitDecision(items[i], tuple(found))
        if decision.accepted:
            paid.append(items[i])
        decisions[i] = decision
    return [decisions[i] for i in range(len(items))]
