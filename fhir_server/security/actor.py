"""Who is calling, from a verified access token's claims (SMART App Launch launch context:
``patient``, ``fhirUser``; RFC 9068 ``client_id``) and the break-the-glass headers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import unquote

from fhir_server.errors import BadRequest
from fhir_server.security.scope_set import ScopeSet

ActorKind = Literal["patient", "related-person", "practitioner", "cns", "system"]
BREAK_GLASS_PATIENT = "x-break-glass-patient"
BREAK_GLASS_REASON = "x-break-glass-reason"
_USER_TYPES = ("Patient", "Practitioner", "RelatedPerson")


@dataclass(frozen=True, slots=True)
class BreakGlass:
    """An emergency access to one patient's record, with the reason the professional gave."""

    patient_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Actor:
    kind: ActorKind
    client_id: str
    who: str | None  # "Practitioner/x", "Patient/y", "RelatedPerson/z"; None for system clients
    patient_id: str | None  # the patient in context (a patient, or the one a representative acts for)
    scopes: ScopeSet
    break_glass: BreakGlass | None = None

    @property
    def scope_context(self) -> str:
        """Which scopes count: a patient app's ``patient/``, a clinician's ``user/``, a system's ``system/``."""
        return {"patient": "patient", "related-person": "patient", "practitioner": "user"}.get(self.kind, "system")

    def may(self, resource_type: str, letter: str) -> bool:
        return self.scopes.allows(self.scope_context, resource_type, letter)


def _relative(fhir_user: Any) -> str | None:
    """``Practitioner/x`` from a relative or absolute fhirUser URL."""
    if not isinstance(fhir_user, str):
        return None
    parts = [p for p in fhir_user.split("/") if p]
    if len(parts) >= 2 and parts[-2] in _USER_TYPES:
        return f"{parts[-2]}/{parts[-1]}"
    return None


def _break_glass(headers: Mapping[str, str]) -> BreakGlass | None:
    patient = headers.get(BREAK_GLASS_PATIENT)
    if patient is None:
        return None
    reason = unquote(headers.get(BREAK_GLASS_REASON, "")).strip()
    if not reason:
        raise BadRequest(f"Break-the-glass needs a stated reason ({BREAK_GLASS_REASON}, percent-encoded text)")
    return BreakGlass(patient.strip().removeprefix("Patient/"), reason[:500])


def actor_from_claims(claims: Mapping[str, Any], cns_clients: frozenset[str], headers: Mapping[str, str]) -> Actor:
    client_id = str(claims.get("client_id") or "")
    scopes = ScopeSet.parse(claims.get("scope"))
    who = _relative(claims.get("fhirUser"))
    patient = claims.get("patient") if isinstance(claims.get("patient"), str) else None
    if who is None and patient is None:
        kind: ActorKind = "cns" if client_id in cns_clients else "system"
        return Actor(kind, client_id, None, None, scopes)
    if who is not None and who.startswith("Practitioner/"):
        return Actor("practitioner", client_id, who, None, scopes, _break_glass(headers))
    if who is not None and who.startswith("RelatedPerson/"):
        return Actor("related-person", client_id, who, patient, scopes)
    patient = patient or (who.partition("/")[2] if who else None)
    return Actor("patient", client_id, who or f"Patient/{patient}", patient, scopes)
