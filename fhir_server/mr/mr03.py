"""R10 MR03 — the coordination fee (forfait), coefficient 24.71 (settings.mr03_coefficient).

May be billed only when all hold:
1. by a general practitioner or paediatrician who is the patient's MR on that day;
2. the patient has at least one recognised ALD on that day;
3. no earlier than six months after the effective date (exactly six months is allowed);
4. at most one per six months (*interpretation*: rolling — no earlier than six months after
   the previous MR03; settings.mr03_window = "calendar" for one per half-year);
5. the patient attested the résumé patient was updated, unless the résumé is in the DSP.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .calendar import add_months, next_semester_start
from .eligibility import DoctorFacts, PatientFacts, ald_codes_on
from .relationship import MrRelationship, mr_on
from .settings import DEFAULT_SETTINGS, MrRuleSettings
from .violations import RuleViolation, violation

__all__ = ["Mr03Status", "next_mr03_date", "check_mr03", "mr03_status"]


def next_mr03_date(
    effective: date, previous_mr03: Iterable[date] = (), *, settings: MrRuleSettings = DEFAULT_SETTINGS
) -> date:
    """R10.3/R10.4: the first day an MR03 may be billed: not before effective + 6 months, and
    not before the previous MR03 + 6 months (rolling) or the next half-year (calendar).

    Effective 1 Dec 2024 → 1 Jun 2025; previous MR03 15 Jun 2025 → 15 Dec 2025."""
    earliest = add_months(effective, settings.mr03_first_after_months)
    previous = [d for d in previous_mr03 if settings.mr03_spacing_any_declaration or d >= effective]
    if previous:
        last = max(previous)
        if settings.mr03_window == "rolling":
            spaced = add_months(last, settings.mr03_spacing_months)
        else:
            spaced = next_semester_start(last)
        earliest = max(earliest, spaced)
    return earliest


def check_mr03(
    billed_on: date,
    doctor: DoctorFacts,
    patient: PatientFacts,
    relationships: Iterable[MrRelationship],
    previous_mr03: Iterable[date] = (),
    *,
    resume_attested: bool = False,
    resume_in_dsp: bool = False,
    settings: MrRuleSettings = DEFAULT_SETTINGS,
) -> list[RuleViolation]:
    """R10: [] if an MR03 billed by ``doctor`` on ``billed_on`` is payable, else one R10
    violation per failed condition (codes r10-discipline, r10-not-mr, r10-no-ald,
    r10-too-early, r10-spacing, r10-resume).  ``previous_mr03``: dates of the patient's
    MR03 already paid (not this one)."""
    out: list[RuleViolation] = []
    if not doctor.disciplines & settings.mr_disciplines:
        out.append(violation("R10", "r10-discipline", "MR03 is reserved to general practitioners and paediatricians"))
    current = mr_on(relationships, patient.patient_id, billed_on)
    if current is None or current.doctor_id != doctor.doctor_id:
        out.append(
            violation(
                "R10", "r10-not-mr", f"doctor {doctor.doctor_id} is not the patient's MR on {billed_on.isoformat()}"
            )
        )
    if not ald_codes_on(patient, billed_on):
        out.append(violation("R10", "r10-no-ald", f"no recognised ALD on {billed_on.isoformat()}"))
    if current is not None:
        first = add_months(current.effective, settings.mr03_first_after_months)
        if billed_on < first:
            out.append(
                violation(
                    "R10",
                    "r10-too-early",
                    f"first MR03 no earlier than {first.isoformat()} (six months after the effective date)",
                )
            )
        nxt = next_mr03_date(current.effective, [d for d in previous_mr03 if d <= billed_on], settings=settings)
        if billed_on >= first and billed_on < nxt:
            out.append(
                violation("R10", "r10-spacing", f"at most one MR03 per six months; next possible on {nxt.isoformat()}")
            )
    if not (resume_attested or resume_in_dsp):
        out.append(
            violation(
                "R10",
                "r10-resume",
                "no attestation that the résumé patient was updated, and no résumé patient in the DSP",
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class Mr03Status:
    """R10 for $mr-status: may an MR03 be billed on the day, and from when."""

    eligible: bool
    next_billable: date | None
    """The first day from ``day`` on when the date conditions (R10.3/4) hold; None without MR."""
    violations: tuple[RuleViolation, ...]


def mr03_status(
    day: date,
    doctor: DoctorFacts,
    patient: PatientFacts,
    relationships: Iterable[MrRelationship],
    previous_mr03: Iterable[date] = (),
    *,
    resume_attested: bool = False,
    resume_in_dsp: bool = False,
    settings: MrRuleSettings = DEFAULT_SETTINGS,
) -> Mr03Status:
    """R10: eligibility of an MR03 by ``doctor`` on ``day`` and the next date one may be billed."""
    rels = list(relationships)
    previous = [d for d in previous_mr03 if d <= day]
    problems = check_mr03(
        day,
        doctor,
        patient,
        rels,
        previous,
        resume_attested=resume_attested,
        resume_in_dsp=resume_in_dsp,
        settings=settings,
    )
    current = mr_on(rels, patient.patient_id, day)
    nxt = max(day, next_mr03_date(current.effective, previous, settings=settings)) if current else None
    if current is not None and current.last_day is not None and nxt is not None and nxt > current.last_day:
        nxt = None
    return Mr03Status(not problems, nxt, tuple(problems))
