"""Candidates for an MR — the French 2023 campaign, applied here.

The insurer lists, for each doctor, the ALD patients without an MR whom that doctor saw at
least three times in the twelve months before a date, and invites the doctor to become
their MR.

*Interpretations* (settings.candidate_*): "saw" = a consultation or visit billed by the
doctor (renewals, injection/dressing series and fees do not count); several on one day
count once; the twelve months before ``day`` = ``day`` − 12 months … ``day`` − 1 day
(a visit exactly twelve months before counts, one on ``day`` does not); "without an MR" =
no relationship covering ``day`` nor validated to start later (a revoked one whose last day
has passed does not count).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .calendar import ONE_DAY, add_months
from .eligibility import PatientFacts, ald_codes_on
from .prestations import LIMITED_CATEGORIES, Prestation
from .relationship import MrRelationship
from .settings import DEFAULT_SETTINGS, MrRuleSettings

__all__ = ["Candidate", "candidate_window", "mr_candidates"]


@dataclass(frozen=True, slots=True)
class Candidate:
    patient_id: str
    contacts: int
    """Distinct days the doctor saw the patient in the window."""
    first_contact: date
    last_contact: date
    ald: tuple[str, ...]


def candidate_window(day: date, *, settings: MrRuleSettings = DEFAULT_SETTINGS) -> tuple[date, date]:
    """The twelve months before ``day``: (day − 12 months, day − 1 day), both inclusive."""
    return add_months(day, -settings.candidate_window_months), day - ONE_DAY


def mr_candidates(
    doctor_id: str,
    day: date,
    patients: Iterable[PatientFacts],
    prestations: Iterable[Prestation],
    relationships: Iterable[MrRelationship] = (),
    *,
    settings: MrRuleSettings = DEFAULT_SETTINGS,
) -> list[Candidate]:
    """Campaign: ``doctor_id``'s ALD patients (ALD recognised on ``day``) with no MR on or
    after ``day`` whom the doctor saw on at least three days in the twelve months before.
    Sorted by patient id.  ``prestations`` must carry ``patient_id``."""
    start, end = candidate_window(day, settings=settings)
    seen: dict[str, set[date]] = {}
    for p in prestations:
        if p.doctor_id == doctor_id and p.category in LIMITED_CATEGORIES and p.patient_id and start <= p.day <= end:
            seen.setdefault(p.patient_id, set()).add(p.day)
    with_mr = {r.patient_id for r in relationships if r.last_day is None or r.last_day >= day}
    out: list[Candidate] = []
    for patient in patients:
        days = seen.get(patient.patient_id, set())
        ald = ald_codes_on(patient, day)
        if len(days) >= settings.candidate_min_visits and ald and patient.patient_id not in with_mr:
            out.append(Candidate(patient.patient_id, len(days), min(days), max(days), tuple(ald)))
    return sorted(out, key=lambda c: c.patient_id)
