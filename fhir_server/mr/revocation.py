"""R5 duration and end, R6 revocation.

* During the first twelve months after the effective date only a **mutual** revocation is
  allowed; from the second year either side may revoke alone.  Two months' notice always.
* *Interpretation*: the notice runs from the signature date (settings.revocation_notice_from);
  the revocation takes effect on signature + 2 months and the relationship's last day
  (inclusive, FHIR ``Period.end``) is the day before.  CNS example: signed 3 May 2024 →
  takes effect 3 Jul 2024, last day 2 Jul 2024.
* *Interpretation*: the first twelve months are effective … effective + 12 months − 1 day;
  the anniversary itself is the first day of the second year
  (settings.first_year_includes_anniversary).
* R5: the relationship also ends when the MR dies (or the patient does); its last day is the
  date of death.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

from .calendar import ONE_DAY, add_months
from .relationship import MrRelationship
from .settings import DEFAULT_SETTINGS, MrRuleSettings
from .violations import RuleViolation, violation

__all__ = [
    "Initiator",
    "RevocationDecision",
    "first_year_last_day",
    "in_first_year",
    "revoke",
    "end_by_death",
]

Initiator = Literal["patient", "doctor", "mutual"]
INITIATORS: tuple[str, ...] = ("patient", "doctor", "mutual")


def first_year_last_day(effective: date, *, settings: MrRuleSettings = DEFAULT_SETTINGS) -> date:
    """R6: the last day of the "first twelve months" (effective 1 Apr 2024 → 31 Mar 2025;
    → 1 Apr 2025 if settings.first_year_includes_anniversary)."""
    anniversary = add_months(effective, settings.mutual_only_months)
    return anniversary if settings.first_year_includes_anniversary else anniversary - ONE_DAY


def in_first_year(effective: date, day: date, *, settings: MrRuleSettings = DEFAULT_SETTINGS) -> bool:
    """R6: ``day`` falls before the end of the first twelve months (also before the effective date)."""
    return day <= first_year_last_day(effective, settings=settings)


@dataclass(frozen=True, slots=True)
class RevocationDecision:
    """R6: when the revocation takes effect and the relationship's last day (its day before),
    or the violations."""

    takes_effect: date | None
    last_day: date | None
    violations: tuple[RuleViolation, ...] = ()

    @property
    def accepted(self) -> bool:
        return not self.violations


def revoke(
    relationship: MrRelationship,
    initiator: Initiator,
    signed_on: date,
    received_on: date | None = None,
    *,
    settings: MrRuleSettings = DEFAULT_SETTINGS,
) -> RevocationDecision:
    """R6: accept or refuse a revocation and compute its dates.

    Refused (R6) when: the initiator is unknown; the relationship is already revoked or
    ended; the form was received before it was signed; it is unilateral (patient or doctor
    alone) and signed in the first twelve months.  Otherwise takes effect on
    signature + 2 months (or receipt + 2 months, see settings), last day = the day before.
    """
    problems: list[RuleViolation] = []
    if initiator not in INITIATORS:
        problems.append(
            violation("R6", "r6-initiator", f"initiator must be patient, doctor or mutual, not {initiator!r}")
        )
    if relationship.last_day is not None:
        problems.append(
            violation("R6", "r6-already-ended", f"the relationship already ends on {relationship.last_day.isoformat()}")
        )
    if received_on is not None and received_on < signed_on:
        problems.append(
            violation(
                "R6",
                "r6-received-before-signed",
                f"received {received_on.isoformat()} before signed {signed_on.isoformat()}",
            )
        )
    start = received_on if settings.revocation_notice_from == "receipt" and received_on is not None else signed_on
    first_year_end = first_year_last_day(relationship.effective, settings=settings).isoformat()
    if initiator in ("patient", "doctor") and in_first_year(relationship.effective, start, settings=settings):
        problems.append(
            violation(
                "R6",
                "r6-unilateral-first-year",
                f"during the first twelve months (until {first_year_end}) "
                f"only a mutual revocation is allowed; this one by the {initiator} alone is refused",
            )
        )
    if problems:
        return RevocationDecision(None, None, tuple(problems))
    takes_effect = add_months(start, settings.revocation_notice_months)
    return RevocationDecision(takes_effect, takes_effect - ONE_DAY)


def end_by_death(relationship: MrRelationship, died_on: date) -> RevocationDecision:
    """R5: the relationship ends on the date of death (its last day), without notice.

    Refused (R5) if it already ended earlier.  If the death falls before the effective date
    the relationship never took effect: last_day is then effective − 1 day (an empty
    period; part B should mark the CareTeam so)."""
    if relationship.last_day is not None and relationship.last_day < died_on:
        return RevocationDecision(
            None,
            None,
            (
                violation(
                    "R5", "r5-already-ended", f"the relationship already ended on {relationship.last_day.isoformat()}"
                ),
            ),
        )
    last_day = max(died_on, relationship.effective - ONE_DAY)
    return RevocationDecision(last_day + ONE_DAY, last_day)
