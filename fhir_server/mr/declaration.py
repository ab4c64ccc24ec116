"""R3 declaration, R4 effective date, R7 a new MR.

The CNS validates a declaration (R3) if the patient may have an MR (R1), the doctor may be
one (R2), and the patient has no other relationship that is not revoked or ended (R3, R7).
The relationship takes effect on the first day of the month following the validation (R4)
— or, after a revocation, following the later of the validation and the old relationship's
last day (R7).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

from .calendar import first_of_next_month
from .eligibility import DoctorFacts, PatientFacts, may_be_mr, may_have_mr
from .relationship import MrRelationship, open_relationships
from .settings import DEFAULT_SETTINGS, MrRuleSettings
from .violations import RuleViolation, violation

__all__ = [
    "DeclarationDecision",
    "effective_date",
    "effective_date_after",
    "validate_declaration",
]


def effective_date(validated_on: date) -> date:
    """R4: the first day of the month following the CNS validation.

    10 Nov 2024 → 1 Dec 2024; 31 Dec 2024 → 1 Jan 2025; 1 Mar 2025 → 1 Apr 2025."""
    return first_of_next_month(validated_on)


def effective_date_after(validated_on: date, previous_last_day: date | None) -> date:
    """R7 (*interpretation*): the first day of the month following the later of the validation
    date and the last day of the previous relationship (None: no previous one → R4).

    Old one ends 2 Jul 2024, new one validated 10 May 2024 → 1 Aug 2024."""
    if previous_last_day is None:
        return effective_date(validated_on)
    return first_of_next_month(max(validated_on, previous_last_day))


@dataclass(frozen=True, slots=True)
class DeclarationDecision:
    """The CNS's answer: an effective date, or the violations (one per failed rule)."""

    effective: date | None
    violations: tuple[RuleViolation, ...] = ()
    replaces: MrRelationship | None = None
    """R7: the revoked relationship whose notice delays this one, if any."""

    @property
    def accepted(self) -> bool:
        return not self.violations


def validate_declaration(
    patient: PatientFacts,
    doctor: DoctorFacts,
    validated_on: date,
    relationships: Iterable[MrRelationship] = (),
    *,
    settings: MrRuleSettings = DEFAULT_SETTINGS,
) -> DeclarationDecision:
    """R1, R2, R3, R7 on the validation day, then R4/R7 for the effective date.

    ``relationships``: the patient's validated relationships (other patients' are ignored).
    A relationship without a last day (not revoked nor ended) refuses the declaration (R3,
    at most one MR; R7, revoke first).  A revoked one still in its notice period does not:
    the new one takes effect after its last day (R7).
    """
    violations: list[RuleViolation] = [
        *may_have_mr(patient, validated_on),
        *may_be_mr(doctor, validated_on, settings=settings),
    ]
    mine = [r for r in relationships if r.patient_id == patient.patient_id]
    blocking = open_relationships(mine, patient.patient_id)
    if blocking:
        old = blocking[0]
        who = "this doctor" if old.doctor_id == doctor.doctor_id else f"doctor {old.doctor_id}"
        violations.append(
            violation(
                "R3",
                "r3-already-has-mr",
                f"the patient already has an MR ({who}, effective {old.effective.isoformat()}) that was not "
                "revoked or ended; a new declaration is taken into account only after the revocation (R7)",
            )
        )
    if violations:
        return DeclarationDecision(None, tuple(violations))
    ended = [r for r in mine if r.last_day is not None]
    previous = max(ended, key=lambda r: r.last_day) if ended else None  # type: ignore[arg-type,return-value]
    effective = effective_date_after(validated_on, previous.last_day if previous else None)
    replaces = previous if previous is not None and previous.last_day >= validated_on else None  # type: ignore[operator]
    return DeclarationDecision(effective, (), replaces)
