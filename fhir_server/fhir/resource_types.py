"""Resource types this server stores and searches.

The order is the order in which they are listed in the CapabilityStatement. Search
parameters defined on other types of the R4 specification are not loaded.
"""

from __future__ import annotations

SUPPORTED_TYPES: tuple[str, ...] = (
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "RelatedPerson",
    "CareTeam",
    "Composition",
    "Claim",
    "ClaimResponse",
    "ExplanationOfBenefit",
    "Consent",
    "Condition",
    "Coverage",
    "Encounter",
    "DocumentReference",
    "AuditEvent",
    "Provenance",
    "Group",
    "Bundle",
    "StructureDefinition",
    "CodeSystem",
    "ValueSet",
    "ConceptMap",
    "SearchParameter",
    "OperationDefinition",
    "NamingSystem",
)
