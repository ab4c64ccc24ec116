"""Wire the MR operations and guards into the server (issue 6)."""

from __future__ import annotations

from typing import Any

from fhir_server.api.mr.claims import ClaimPrestations, ClaimSubmission
from fhir_server.api.mr.facts import MrFacts
from fhir_server.api.mr.guards import ResumeAuthorGuard
from fhir_server.api.mr.lifecycle import MrLifecycle
from fhir_server.api.mr.reports import MrCandidates, PrestationsSummary
from fhir_server.api.mr.status import MrStatus
from fhir_server.api.operation_definitions import ParameterSpec as P
from fhir_server.api.operation_definitions import operation_definition
from fhir_server.api.operations import Operation, OperationRegistry
from fhir_server.fhir import lu_names as names
from fhir_server.fhir.repository import Repository
from fhir_server.mr.settings import MrRuleSettings
from fhir_server.terminology.service import TerminologyService


def _url(name: str) -> str:
    return f"{names.LU}/OperationDefinition/{name}"


def register_mr(
    registry: OperationRegistry,
    repository: Repository,
    terminology: TerminologyService,
    tz: Any,
    settings: MrRuleSettings,
) -> tuple[MrFacts, list[dict[str, Any]]]:
    """Register the operations and the résumé guard; the OperationDefinitions to publish."""
    facts = MrFacts(repository, tz)
    lifecycle = MrLifecycle(facts, settings)
    claims = ClaimPrestations(facts, terminology)
    repository.guards.append(ResumeAuthorGuard(facts))
    care_team_out = P("return", "out", "CareTeam", 1, "1", "The care team as updated")
    operations = [
        (
            Operation(
                "validate-declaration",
                _url("validate-declaration"),
                lifecycle.validate_declaration,
                types=("CareTeam",),
                instance=True,
                affects_state=True,
                documentation="The CNS validates a proposed MR declaration: R1–R3 and R7 are checked on the "
                "validation date; on success the care team becomes active with a unique declaration number "
                "and period.start per R4/R7, otherwise 422 with one issue per failed rule.",
            ),
            [P("validationDate", "in", "date", 1, "1", "The CNS's validation date"), care_team_out],
        ),
        (
            Operation(
                "revoke",
                _url("revoke"),
                lifecycle.revoke,
                types=("CareTeam",),
                instance=True,
                affects_state=True,
                documentation="R6: revocation with two months' notice from the signature date; mutual only "
                "during the first twelve months; period.end is the inclusive last day.",
            ),
            [
                P("initiator", "in", "code", 1, "1", "patient | doctor | mutual"),
                P("signatureDate", "in", "date", 1, "1"),
                P("receivedDate", "in", "date", 0, "1", "When the CNS received the form"),
                care_team_out,
            ],
        ),
        (
            Operation(
                "end",
                _url("end"),
                lifecycle.end,
                types=("CareTeam",),
                instance=True,
                affects_state=True,
                documentation="R5: the relationship ends with the MR's death (reason deceased).",
            ),
            [
                P("reason", "in", "code", 1, "1", "deceased (the MR) | deceased-doctor | deceased-patient"),
                P("date", "in", "date", 1, "1", "Date of death: the last day of the relationship"),
                care_team_out,
            ],
        ),
        (
            Operation(
                "mr-status",
                _url("mr-status"),
                MrStatus(facts, settings),
                types=("Patient",),
                instance=True,
                documentation="The patient's MR on a date, the résumé patient due date (R8) and the MR03 "
                "eligibility and next billable date (R10).",
            ),
            [
                P("date", "in", "date", 0, "1", "Default: today (Europe/Luxembourg)"),
                P("hasMr", "out", "boolean", 1),
                P("careTeam", "out", "Reference"),
                P("mr", "out", "Reference"),
                P("effectiveDate", "out", "date"),
                P("resumeDueDate", "out", "date"),
                P("resumeOverdue", "out", "boolean"),
                P("resumeLastUpdated", "out", "date"),
                P("mr03Eligible", "out", "boolean"),
                P("mr03NextDate", "out", "date"),
                P("mr03Reason", "out", "string", 0, "*", "Why an MR03 may not be billed on that date"),
            ],
        ),
        (
            Operation(
                "submit",
                "http://hl7.org/fhir/OperationDefinition/Claim-submit",
                ClaimSubmission(claims, settings),
                types=("Claim",),
                type_level=True,
                affects_state=True,
                documentation="Stores the Claim and returns its ClaimResponse: consultations adjudicated per "
                "R11 (24 h / 7 days / semester, exemptions; several doctors of one discipline flagged), MR03 "
                "per R10; every refused item names its rule in ClaimResponse.error.",
            ),
            [P("resource", "in", "Claim", 1, "1"), P("return", "out", "ClaimResponse", 1, "1")],
        ),
        (
            Operation(
                "prestations-summary",
                _url("prestations-summary"),
                PrestationsSummary(claims, settings),
                types=("Patient",),
                instance=True,
                documentation="R9: the résumé des prestations due on a date, as a document Bundle: at the "
                "effective date the three previous years, then each anniversary the year just ended, never "
                "before 1 July 2016.",
            ),
            [P("date", "in", "date", 0, "1", "Default: today"), P("return", "out", "Bundle", 1, "1")],
        ),
        (
            Operation(
                "mr-candidates",
                _url("mr-candidates"),
                MrCandidates(claims, settings),
                types=("Practitioner",),
                instance=True,
                documentation="The doctor's ALD patients with no MR seen at least three times in the twelve "
                "months before the date (the French 2023 campaign, applied here).",
            ),
            [P("date", "in", "date", 0, "1", "Default: today"), P("candidate", "out", "", 0, "*")],
        ),
    ]
    definitions = []
    for operation, parameters in operations:
        registry.register(operation)
        definitions.append(operation_definition(operation, parameters))
    return facts, definitions
