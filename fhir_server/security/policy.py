"""Who may do what, by role: the tables of the access decision (R12; issue 7).

- A patient (or their legal representative) reads their own record and writes their Consents.
- A professional reads the records of the patients whose MR they are (opt-out) or whose
  Consent permits them, minus what the patients hid; writes clinical resources in those
  records; declares themselves MR (a proposed CareTeam) and submits their own Claims;
  opens another record only by break-the-glass, read-only.
- The CNS acts on declarations and claims only.
- A system client acts within its scopes.
Types without patient data (directory and conformance resources) are readable by everyone
authenticated; AuditEvents are never changed or deleted through the API.
"""

from __future__ import annotations

from fhir_server.security.actor import ActorKind
from fhir_server.security.compartment import PATIENT_COMPARTMENT

OPEN_TYPES = frozenset(
    {
        "Practitioner",
        "PractitionerRole",
        "Organization",
        "StructureDefinition",
        "CodeSystem",
        "ValueSet",
        "ConceptMap",
        "SearchParameter",
        "OperationDefinition",
        "NamingSystem",
    }
)
RECORD_TYPES = frozenset({"Patient", *PATIENT_COMPARTMENT})
CNS_TYPES = frozenset({"Patient", "CareTeam", "Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage"})
PRIVATE_TO_PATIENT = frozenset({"AuditEvent", "Consent"})
"""In the record, but not shown to professionals: who looked, and what the patient hid."""
CLINICAL_WRITES = frozenset(
    {"Composition", "Condition", "Encounter", "DocumentReference", "Provenance", "CareTeam", "RelatedPerson"}
)
IMMUTABLE = frozenset({"AuditEvent"})

READABLE: dict[ActorKind, frozenset[str] | None] = {
    "patient": OPEN_TYPES | RECORD_TYPES,
    "related-person": OPEN_TYPES | RECORD_TYPES,
    "practitioner": OPEN_TYPES | (RECORD_TYPES - PRIVATE_TO_PATIENT),
    "cns": OPEN_TYPES | CNS_TYPES,
    "system": None,
}
WRITABLE: dict[ActorKind, frozenset[str] | None] = {
    "patient": frozenset({"Consent"}),
    "related-person": frozenset({"Consent"}),
    "practitioner": CLINICAL_WRITES | {"Claim"},
    "cns": CNS_TYPES,
    "system": None,
}

INTERACTION_LETTER = {
    "read": "r",
    "vread": "r",
    "history-instance": "r",
    "search-type": "s",
    "history-type": "s",
    "create": "c",
    "update": "u",
    "patch": "u",
    "delete": "d",
}

# operation → the roles that may call it; the resource it runs on is then checked like a read
OPERATION_ROLES: dict[str, frozenset[ActorKind]] = {
    "validate-declaration": frozenset({"cns", "system"}),
    "end": frozenset({"cns", "system"}),
    "revoke": frozenset({"patient", "related-person", "practitioner", "cns", "system"}),
    "mr-status": frozenset({"patient", "related-person", "practitioner", "cns", "system"}),
    "everything": frozenset({"patient", "related-person", "practitioner", "system"}),
    "submit": frozenset({"practitioner", "cns", "system"}),
    "prestations-summary": frozenset({"cns", "system"}),
    "mr-candidates": frozenset({"practitioner", "cns", "system"}),
    "reindex": frozenset({"system"}),
}
"""Operations not listed (terminology, $validate) read no patient data beyond the instance
they may run on, and are open to every authenticated caller."""


def may_read_type(kind: ActorKind, resource_type: str) -> bool:
    readable = READABLE[kind]
    return readable is None or resource_type in readable


def may_write_type(kind: ActorKind, resource_type: str) -> bool:
    if resource_type in IMMUTABLE:
        return kind == "system"
    writable = WRITABLE[kind]
    return writable is None or resource_type in writable
