"""The Patient compartment (https://hl7.org/fhir/R4/compartmentdefinition-patient.html):
which search parameters put a resource of each supported type in a patient's record.

Restricted to the supported types; ``tests/security`` checks it against the official
CompartmentDefinition. A Patient is in its own compartment by id (``link`` is not followed
for access: a link does not give access to another patient's record).
"""

from __future__ import annotations

from typing import Any

from fhir_server.fhir.references import parse_reference
from fhir_server.fhir.search_parameters import SearchParameterRegistry

PATIENT_COMPARTMENT: dict[str, tuple[str, ...]] = {
    "AuditEvent": ("patient",),
    "CareTeam": ("patient", "participant"),
    "Claim": ("patient", "payee"),
    "ClaimResponse": ("patient",),
    "Composition": ("subject", "author", "attester"),
    "Condition": ("patient", "asserter"),
    "Consent": ("patient",),
    "Coverage": ("policy-holder", "subscriber", "beneficiary", "payor"),
    "DocumentReference": ("subject", "author"),
    "Encounter": ("patient",),
    "ExplanationOfBenefit": ("patient", "payee"),
    "Provenance": ("patient",),
    "RelatedPerson": ("patient",),
}


def in_compartment_types(resource_type: str) -> bool:
    return resource_type == "Patient" or resource_type in PATIENT_COMPARTMENT


class CompartmentReader:
    """The patients whose compartment holds a resource, from its body (for the audit trail)."""

    def __init__(self, registry: SearchParameterRegistry) -> None:
        self.registry = registry

    def patients(self, resource: dict[str, Any]) -> set[str]:
        resource_type = resource.get("resourceType")
        if resource_type == "Patient":
            return {resource["id"]} if isinstance(resource.get("id"), str) else set()
        found: set[str] = set()
        for code in PATIENT_COMPARTMENT.get(resource_type or "", ()):
            param = self.registry.get(resource_type, code)  # type: ignore[arg-type]
            if param is None or param.evaluator is None:
                continue
            try:
                values = param.evaluator(resource)
            except Exception:  # noqa: BLE001 - an odd resource must not fail the audit
                continue
            for value in values:
                reference = value.get("reference") if isinstance(value, dict) else None
                if isinstance(reference, str):
                    parsed = parse_reference(reference, None)
                    if parsed is not None and parsed[0] == "Patient" and parsed[1]:
                        found.add(parsed[1])
        return found
