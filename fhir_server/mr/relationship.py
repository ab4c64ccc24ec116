"""The MR relationship itself (R3/R5): who, from when, until when — and who is the MR on a day.

A relationship is what the CNS validated: patient, doctor, effective date (R4/R7) and, once
revoked or ended (R5/R6), its last day (inclusive, like FHIR ``Period.end``).  Declarations
not yet validated are not relationships.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

__all__ = ["MrRelationship", "mr_on", "open_relationships"]


@dataclass(frozen=True, slots=True)
class MrRelationship:
    """A validated MR relationship (part B: an MR CareTeam with a ``period.start``)."""

    patient_id: str
    doctor_id: str
    effective: date
    """R4/R7: first day of the relationship (CareTeam.period.start)."""
    last_day: date | None = None
    """R5/R6: last day, inclusive (CareTeam.period.end); None while not revoked or ended."""
    id: str | None = None

    def covers(self, day: date) -> bool:
        """R3: this doctor is the patient's MR on ``day``."""
        return self.effective <= day and (self.last_day is None or day <= self.last_day)

    def is_open(self) -> bool:
        """Not revoked nor ended: no last day known yet."""
        return self.last_day is None


def mr_on(relationships: Iterable[MrRelationship], patient_id: str, day: date) -> MrRelationship | None:
    """R3: the patient's MR relationship on ``day`` (at most one), or None.

    Raises ValueError if the data holds two overlapping relationships (R3 broken upstream).
    """
    found = [r for r in relationships if r.patient_id == patient_id and r.covers(day)]
    if len(found) > 1:
        raise ValueError(f"R3: patient {patient_id} has {len(found)} MR relationships on {day}")
    return found[0] if found else None


def open_relationships(relationships: Iterable[MrRelationship], patient_id: str) -> list[MrRelationship]:
    """The patient's relationships not revoked nor ended (R7: they block a new declaration)."""
    return [r for r in relationships if r.patient_id == patient_id and r.is_open()]
