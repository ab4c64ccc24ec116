"""A billed service (prestation) as the rules see it: one Claim item.

Part B maps each ``Claim.item`` to a :class:`Prestation`: the service date
(``item.servicedDate``, or the Luxembourg date of the instant), the doctor
(``Claim.provider``), the doctor's discipline (PractitionerRole.specialty), the code
(``item.productOrService``) and its ``category`` (the property of that code in
``terminology/CodeSystem-cns-nomenclature.json``), and the R11 flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

__all__ = ["Category", "LIMITED_CATEGORIES", "Prestation"]

Category = Literal[
    "consultation", "visit", "renewal", "injection-series", "dressing-series", "coordination-fee", "other"
]

#: R11: the categories the consultation limits count.  Not counted: prescription renewals,
#: series of injections or dressings (and anything that is not a consultation or visit).
LIMITED_CATEGORIES: frozenset[str] = frozenset({"consultation", "visit"})


@dataclass(frozen=True, slots=True)
class Prestation:
    """One service billed for a patient."""

    day: date
    """Luxembourg calendar date of the service."""
    doctor_id: str
    discipline: str
    category: Category
    code: str | None = None
    """CNS nomenclature code (C1, MR03, …)."""
    patient_id: str | None = None
    at: datetime | None = None
    """Time of the service, if known (R11's rolling 24 h); must be zone-aware."""
    emergency: bool = False
    """R11: emergency service / SAMU intervention (exempt from the 24 h limit)."""
    long_stay_geriatric: bool = False
    """R11: long-stay geriatric care (exempt from the semester limit)."""
    hospital_stay: bool = False
    """R11: during a hospital stay (exempt from the semester limit)."""
    justified: bool = False
    """R11: a justification was given (no multi-doctor flag)."""
    id: str | None = None
    """Reference back to the Claim item (for reports)."""
