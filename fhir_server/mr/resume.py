"""R8 the résumé patient: due within three months of the effective date, updated at each
contact, written only by the current MR.

*Interpretation*: the last day allowed is effective + 3 months − 1 day (effective 1 Dec 2024
→ due 28 Feb 2025 inclusive, overdue from 1 Mar 2025).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .calendar import ONE_DAY, add_months
from .relationship import MrRelationship, mr_on
from .settings import DEFAULT_SETTINGS, MrRuleSettings
from .violations import RuleViolation, violation

__all__ = ["ResumeStatus", "resume_due_date", "resume_status", "may_write_resume"]


def resume_due_date(effective: date, *, settings: MrRuleSettings = DEFAULT_SETTINGS) -> date:
    """R8: last day to put the résumé patient in the DSP: effective + 3 months − 1 day."""
    return add_months(effective, settings.resume_due_months) - ONE_DAY


@dataclass(frozen=True, slots=True)
class ResumeStatus:
    """R8 on a given day."""

    due: date
    first_written: date | None
    """First version written on or before the day (since the effective date), if any."""
    last_updated: date | None
    """Latest version written on or before the day, if any."""
    overdue: bool
    """No résumé written yet and the day is after the due date."""
    late: bool
    """The first résumé was written after the due date."""


def resume_status(
    effective: date, day: date, written_on: Iterable[date] = (), *, settings: MrRuleSettings = DEFAULT_SETTINGS
) -> ResumeStatus:
    """R8: due date, first/last version and the overdue flag on ``day``.

    ``written_on``: the dates the résumé was created or updated (e.g. the Composition's
    versions by the MR).  Versions before the effective date or after ``day`` are ignored."""
    due = resume_due_date(effective, settings=settings)
    seen = sorted(d for d in written_on if effective <= d <= day)
    first = seen[0] if seen else None
    return ResumeStatus(
        due=due,
        first_written=first,
        last_updated=seen[-1] if seen else None,
        overdue=first is None and day > due,
        late=first is not None and first > due,
    )


def may_write_resume(
    author_id: str, patient_id: str, day: date, relationships: Iterable[MrRelationship]
) -> list[RuleViolation]:
    """R8: only the patient's current MR writes the résumé patient ([] = allowed)."""
    current = mr_on(relationships, patient_id, day)
    if current is None:
        return [
            violation(
                "R8",
                "r8-no-mr",
                f"patient {patient_id} has no MR on {day.isoformat()}; only the MR writes the résumé patient",
            )
        ]
    if current.doctor_id != author_id:
        return [
            violation(
                "R8",
                "r8-not-the-mr",
                f"only the patient's MR ({current.doctor_id}) writes the résumé patient, not {author_id}",
            )
        ]
    return []
