"""Documents and lists built from stored claims: the résumé des prestations (R9) and the
doctors' MR candidates (the French 2023 campaign)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from fhir_server.api.messages import FhirResponse
from fhir_server.api.mr.claims import ClaimPrestations
from fhir_server.api.mr.outcomes import date_parameter, parameter
from fhir_server.api.operations import OperationCall
from fhir_server.errors import Unprocessable
from fhir_server.fhir import lu_names as names
from fhir_server.mr.candidates import mr_candidates
from fhir_server.mr.prestations_summary import summary_due_on
from fhir_server.mr.settings import MrRuleSettings

DOCUMENT_TYPE = f"{names.LU}/CodeSystem/document-type"
BRANCH_EXTENSION = f"{names.LU}/StructureDefinition/insurance-branch"
BRANCHES = {
    "sickness-maternity": "Assurance maladie-maternité",
    "accident": "Assurance accident",
    "long-term-care": "Assurance dépendance",
}


def _branch(claim: dict[str, Any]) -> str:
    ext = next((e for e in claim.get("extension", []) if e.get("url") == BRANCH_EXTENSION), None)
    return ext.get("valueCode", "sickness-maternity") if ext else "sickness-maternity"


def _narrative(text: str) -> dict[str, str]:
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return {"status": "generated", "div": f'<div xmlns="http://www.w3.org/1999/xhtml">{escaped}</div>'}


@dataclass
class PrestationsSummary:
    """``Patient/{id}/$prestations-summary?date=``: the résumé des prestations due on that date."""

    claims: ClaimPrestations
    settings: MrRuleSettings

    async def __call__(self, call: OperationCall) -> FhirResponse:
        facts = self.claims.facts
        day = date_parameter(call.parameters.text("date"), "date", required=False) or datetime.now(facts.tz).date()
        patient_id = call.resource_id or ""
        patient = await facts.resource(call.tx, f"Patient/{patient_id}")
        pairs = [rel for rel, _ in await facts.relationships(call.tx, patient_id) if rel.effective <= day]
        if not pairs:
            raise Unprocessable(f"R9: patient {patient_id} has no MR relationship effective on {day.isoformat()}")
        relationship = max(pairs, key=lambda r: r.effective)
        period = summary_due_on(relationship.effective, day, relationship.last_day, settings=self.settings)
        assert period is not None
        claims = await facts.all_matches(call.tx, "Claim", [("patient", f"Patient/{patient_id}")])
        covered: dict[str, list[dict[str, Any]]] = {}
        for claim in claims:
            days = [p.day for p in await self.claims.of_claim(call.tx, claim, {})]
            if period.covers is not None and any(period.covers.covers(d) for d in days):
                covered.setdefault(_branch(claim), []).append(claim)
        return FhirResponse(200, self._document(patient, period, covered, relationship.doctor_id))

    @staticmethod
    def _document(patient: dict[str, Any], period: Any, covered: dict[str, list[dict]], mr: str) -> dict[str, Any]:
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        span = period.covers
        covers = {"start": span.start.isoformat(), "end": span.end.isoformat()} if span is not None else None
        composition_id = str(uuid.uuid4())
        sections = [
            {
                "title": title,
                "code": {"coding": [{"system": f"{names.LU}/CodeSystem/insurance-branch", "code": code}]},
                "text": _narrative(f"{len(covered.get(code, []))} demande(s) de remboursement"),
                **(
                    {"entry": [{"reference": f"Claim/{c['id']}"} for c in covered[code]]}
                    if covered.get(code)
                    else {
                        "emptyReason": {
                            "coding": [
                                {
                                    "system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                    "code": "nilknown",
                                }
                            ]
                        }
                    }
                ),
            }
            for code, title in BRANCHES.items()
        ]
        composition = {
            "resourceType": "Composition",
            "id": composition_id,
            "status": "final",
            "type": {
                "coding": [{"system": DOCUMENT_TYPE, "code": "resume-prestations", "display": "Résumé des prestations"}]
            },
            "subject": {"reference": f"Patient/{patient['id']}"},
            "date": now,
            "author": [{"display": "Caisse nationale de santé (CNS)"}],
            "title": "Résumé des prestations",
            "event": [{"period": covers}] if covers else [],
            "section": sections,
        }
        if not composition["event"]:
            del composition["event"]
        entries = [composition, patient, *(c for claims in covered.values() for c in claims)]
        return {
            "resourceType": "Bundle",
            "id": str(uuid.uuid4()),
            "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{composition_id}"},
            "type": "document",
            "timestamp": now,
            "entry": [
                {
                    "fullUrl": f"urn:uuid:{r['id']}" if r is composition else f"{r['resourceType']}/{r['id']}",
                    "resource": r,
                }
                for r in entries
            ],
        }


@dataclass
class MrCandidates:
    """``Practitioner/{id}/$mr-candidates?date=``: ALD patients without an MR whom the doctor
    saw at least three times in the twelve months before the date."""

    claims: ClaimPrestations
    settings: MrRuleSettings

    async def __call__(self, call: OperationCall) -> FhirResponse:
        facts = self.claims.facts
        day: date = (
            date_parameter(call.parameters.text("date"), "date", required=False) or datetime.now(facts.tz).date()
        )
        doctor = f"Practitioner/{call.resource_id}"
        await facts.resource(call.tx, doctor)
        roles = await facts.all_matches(call.tx, "PractitionerRole", [("practitioner", doctor)])
        claims = []
        for provider in [doctor, *(f"PractitionerRole/{r['id']}" for r in roles)]:
            claims += await facts.all_matches(call.tx, "Claim", [("provider", provider)])
        prestations = [p for claim in claims for p in await self.claims.of_claim(call.tx, claim, {})]
        patient_ids = sorted({p.patient_id for p in prestations if p.patient_id})
        patients = [await facts.patient(call.tx, pid) for pid in patient_ids]
        relationships = [rel for pid in patient_ids for rel, _ in await facts.relationships(call.tx, pid)]
        found = mr_candidates(doctor, day, patients, prestations, relationships, settings=self.settings)
        out = [parameter("date", day)]
        for candidate in found:
            out.append(
                {
                    "name": "candidate",
                    "part": [
                        parameter("patient", {"reference": f"Patient/{candidate.patient_id}"}),
                        parameter("contacts", candidate.contacts),
                        parameter("firstContact", candidate.first_contact),
                        parameter("lastContact", candidate.last_contact),
                        *({"name": "ald", "valueCode": code} for code in candidate.ald),
                    ],
                }
            )
        return FhirResponse(200, {"resourceType": "Parameters", "parameter": out})
