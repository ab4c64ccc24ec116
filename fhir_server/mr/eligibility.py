"""R1 who may have an MR, R2 who may be an MR — checked on the CNS validation day.

Inputs are small facts, not FHIR resources; part B builds them:

* :class:`PatientFacts` — recognised ALD (Condition coded in the ALD code system, with its
  recognition period), DSP activation period(s), insurance affiliation period(s) (Coverage).
* :class:`DoctorFacts` — disciplines (PractitionerRole.specialty), whether the role is
  primary care outside hospital, the CNS provider code and its validity period.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .calendar import Span
from .settings import DEFAULT_SETTINGS, MrRuleSettings
from .violations import RuleViolation, violation

__all__ = [
    "AldRecognition",
    "PatientFacts",
    "DoctorFacts",
    "ald_codes_on",
    "may_have_mr",
    "may_be_mr",
]


@dataclass(frozen=True, slots=True)
class AldRecognition:
    """R1.1: an ALD recognised for the patient (code ``01``…``32`` of the ALD code system).

    An ICD-10 diagnosis is evidence, not the recognition: ALD 31/32 have no ICD-10 code."""

    code: str
    span: Span = Span()


@dataclass(frozen=True, slots=True)
class PatientFacts:
    """What R1 (and R10.2, candidates) need to know about a patient."""

    patient_id: str
    ald: tuple[AldRecognition, ...] = ()
    dsp: tuple[Span, ...] = ()
    """Periods during which the patient's DSP is activated (open end = still active)."""
    affiliations: tuple[Span, ...] = ()
    """Periods of active affiliation to the health insurance."""


@dataclass(frozen=True, slots=True)
class DoctorFacts:
    """What R2 (and R10.1) need to know about a doctor."""

    doctor_id: str
    disciplines: frozenset[str] = frozenset()
    """Discipline codes, e.g. settings.DISCIPLINE_GENERAL_PRACTICE."""
    primary_care: bool = False
    """Gives primary care outside hospital."""
    provider_code: str | None = None
    """CNS provider code (code prestataire)."""
    provider_code_validity: Span = Span()
    """When the provider code is valid (open = always)."""


def ald_codes_on(patient: PatientFacts, day: date) -> list[str]:
    """R1.1: the ALD codes recognised for the patient on ``day``, sorted."""
    return sorted({a.code for a in patient.ald if a.span.covers(day)})


def may_have_mr(patient: PatientFacts, day: date) -> list[RuleViolation]:
    """R1: ALD recognised, DSP activated and affiliation active, all on ``day``.

    Returns [] if the patient may have an MR, else ONE R1 violation listing every failed
    condition (code ``r1``; the message says which)."""
    failed: list[str] = []
    if not ald_codes_on(patient, day):
        failed.append("no recognised ALD")
    if not any(s.covers(day) for s in patient.dsp):
        failed.append("DSP not activated")
    if not any(s.covers(day) for s in patient.affiliations):
        failed.append("no active affiliation to the health insurance")
    if not failed:
        return []
    return [violation("R1", "r1", f"{'; '.join(failed)} on {day.isoformat()} (patient {patient.patient_id})")]


def may_be_mr(doctor: DoctorFacts, day: date, *, settings: MrRuleSettings = DEFAULT_SETTINGS) -> list[RuleViolation]:
    """R2: discipline general practice or paediatrics, primary care outside hospital, a CNS
    provider code valid on ``day``.  [] or one R2 violation listing every failed condition."""
    failed: list[str] = []
    if not doctor.disciplines & settings.mr_disciplines:
        have = ", ".join(sorted(doctor.disciplines)) or "none"
        failed.append(f"discipline not general practice or paediatrics ({have})")
    if not doctor.primary_care:
        failed.append("does not give primary care outside hospital")
    if not doctor.provider_code:
        failed.append("no CNS provider code")
    elif not doctor.provider_code_validity.covers(day):
        failed.append(f"CNS provider code {doctor.provider_code} not valid")
    if not failed:
        return []
    return [violation("R2", "r2", f"{'; '.join(failed)} on {day.isoformat()} (doctor {doctor.doctor_id})")]
