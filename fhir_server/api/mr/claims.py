"""``Claim/$submit`` (https://hl7.org/fhir/R4/claim-operation-submit.html) adjudicated by the
rule book: consultation limits (R11) and the MR03 coordination fee (R10).

Each Claim item is a :class:`Prestation`: its date (``servicedDate``, else the Claim's
billable period or creation), the doctor (``Claim.provider``), the doctor's discipline, the
CNS code and its category (terminology). An item flag ``item.modifier`` coded
``prestation-flag|emergency`` (or ``long-stay-geriatric``, ``hospital-stay``,
``justified``) carries R11's exemptions. The Claim and a ClaimResponse are stored; each
refused item names its rule in ``ClaimResponse.error``; R11's multi-doctor pattern is a
process note (flagged, not refused).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from fhir_server.api.messages import FhirResponse
from fhir_server.api.mr.facts import MrFacts
from fhir_server.api.operations import OperationCall
from fhir_server.errors import BadRequest, FhirError, Unprocessable
from fhir_server.fhir import lu_names as names
from fhir_server.fhir.lu_resources import day_of
from fhir_server.mr.consultation_limits import adjudicate_consultations
from fhir_server.mr.eligibility import DoctorFacts
from fhir_server.mr.mr03 import check_mr03
from fhir_server.mr.prestations import Prestation
from fhir_server.mr.settings import MrRuleSettings
from fhir_server.mr.violations import RuleViolation
from fhir_server.store.base import StoreReader
from fhir_server.terminology.service import TerminologyService

NOMENCLATURE = f"{names.LU}/CodeSystem/cns-nomenclature"
FLAG_SYSTEM = f"{names.LU}/CodeSystem/prestation-flag"
RULE_SYSTEM = f"{names.LU}/CodeSystem/mr-rule"
ADJUDICATION = "http://terminology.hl7.org/CodeSystem/adjudication"


@dataclass
class ClaimPrestations:
    """Claims as the rules see them."""

    facts: MrFacts
    terminology: TerminologyService

    def category(self, code: str | None) -> str:
        if code is None:
            return "other"
        try:
            values = self.terminology.lookup(NOMENCLATURE, code).concept.property_values("category")
        except FhirError:
            return "other"
        return values[0] if values else "other"

    async def of_claim(
        self, reader: StoreReader | None, claim: dict[str, Any], doctors: dict[str, DoctorFacts]
    ) -> list[Prestation]:
        provider = (claim.get("provider") or {}).get("reference", "")
        doctor_id = await self.facts.practitioner_of(reader, provider) if provider else ""
        if doctor_id and doctor_id not in doctors:
            doctors[doctor_id] = await self.facts.doctor(reader, doctor_id)
        discipline = min(doctors[doctor_id].disciplines, default="other") if doctor_id else "other"
        patient_id = (claim.get("patient") or {}).get("reference", "").removeprefix("Patient/")
        default_day = (claim.get("billablePeriod") or {}).get("start") or claim.get("created")
        out = []
        for item in claim.get("item", []):
            code = next(
                (
                    c.get("code")
                    for c in (item.get("productOrService") or {}).get("coding", [])
                    if c.get("system") == NOMENCLATURE
                ),
                None,
            )
            flags = {
                c.get("code")
                for m in item.get("modifier", [])
                for c in m.get("coding", [])
                if c.get("system") == FLAG_SYSTEM
            }
            served = item.get("servicedDate") or default_day
            day = day_of(served, self.facts.tz)
            if day is None:
                raise BadRequest(f"Claim item {item.get('sequence')} has no service date (servicedDate)")
            out.append(
                Prestation(
                    day,
                    doctor_id,
                    discipline,
                    self.category(code),  # type: ignore[arg-type]
                    code,
                    patient_id,
                    emergency="emergency" in flags,
                    long_stay_geriatric="long-stay-geriatric" in flags,
                    hospital_stay="hospital-stay" in flags,
                    justified="justified" in flags,
                    id=f"{claim.get('id')}#{item.get('sequence')}",
                )
            )
        return out

    async def paid_history(
        self, reader: StoreReader | None, patient_id: str, doctors: dict[str, DoctorFacts]
    ) -> list[Prestation]:
        """The patient's stored claim items not refused by their ClaimResponse."""
        responses = await self.facts.all_matches(reader, "ClaimResponse", [("patient", f"Patient/{patient_id}")])
        refused = {
            f"{(r.get('request') or {}).get('reference', '').removeprefix('Claim/')}#{e.get('itemSequence')}"
            for r in responses
            for e in r.get("error", [])
        }
        history = []
        for claim in await self.facts.all_matches(reader, "Claim", [("patient", f"Patient/{patient_id}")]):
            history += [p for p in await self.of_claim(reader, claim, doctors) if p.id not in refused]
        return history


@dataclass
class ClaimSubmission:
    prestations: ClaimPrestations
    settings: MrRuleSettings

    async def __call__(self, call: OperationCall) -> FhirResponse:
        claim = call.parameters.first("resource")
        if not isinstance(claim, dict) or claim.get("resourceType") != "Claim":
            raise BadRequest("$submit takes a Claim (the body, or a Parameters 'resource')")
        facts = self.prestations.facts
        async with facts.repository.use_transaction(call.tx) as tx:
            patient_id = (claim.get("patient") or {}).get("reference", "").removeprefix("Patient/")
            if not patient_id:
                raise Unprocessable("The Claim names no patient")
            stored = await facts.repository.create("Claim", claim, tx=tx)
            claim = orjson.loads(stored.version.body)  # type: ignore[union-attr]
            doctors: dict[str, DoctorFacts] = {}
            history = [
                p
                for p in await self.prestations.paid_history(tx, patient_id, doctors)
                if not (p.id or "").startswith(f"{claim['id']}#")
            ]
            items = await self.prestations.of_claim(tx, claim, doctors)
            verdicts = await self._adjudicate(tx, patient_id, items, history, doctors)
            response = self._response(claim, items, verdicts)
            written = await facts.repository.create("ClaimResponse", response, tx=tx)
        return FhirResponse(200, written.version.body, written.version)  # type: ignore[union-attr]

    async def _adjudicate(
        self, tx: StoreReader, patient_id: str, items: list[Prestation], history: list[Prestation], doctors: dict
    ) -> list[list[RuleViolation]]:
        facts = self.prestations.facts
        verdicts: list[list[RuleViolation]] = [[] for _ in items]
        for index, decision in zip(
            range(len(items)), adjudicate_consultations(items, history, settings=self.settings), strict=True
        ):
            verdicts[index] += decision.violations
        mr03 = [i for i, p in enumerate(items) if p.code == "MR03"]
        if mr03:
            patient = await facts.patient(tx, patient_id)
            relationships = [rel for rel, _ in await facts.relationships(tx, patient_id)]
            previous = [p.day for p in history if p.code == "MR03"]
            for i in mr03:
                problems = check_mr03(
                    items[i].day,
                    doctors[items[i].doctor_id],
                    patient,
                    relationships,
                    previous,
                    resume_in_dsp=True,
                    settings=self.settings,
                )
                verdicts[i] += problems
                if not problems:
                    previous.append(items[i].day)
        return verdicts

    @staticmethod
    def _response(
        claim: dict[str, Any], items: list[Prestation], verdicts: list[list[RuleViolation]]
    ) -> dict[str, Any]:
        refused = [any(v.severity == "error" for v in found) for found in verdicts]
        sequences = [item.get("sequence") for item in claim.get("item", [])]
        notes = [v for found in verdicts for v in found if v.severity == "warning"]
        response: dict[str, Any] = {
            "resourceType": "ClaimResponse",
            "id": str(uuid.uuid4()),
            "status": "active",
            "type": claim.get(
                "type",
                {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/claim-type", "code": "professional"}]},
            ),
            "use": "claim",
            "patient": claim["patient"],
            "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "insurer": claim.get("insurer", {"display": "CNS"}),
            "request": {"reference": f"Claim/{claim['id']}"},
            "outcome": "complete" if not any(refused) else ("error" if all(refused) else "partial"),
            "disposition": "Adjudicated by the médecin référent rules (R10, R11)",
            "item": [
                {
                    "itemSequence": seq,
                    "adjudication": [{"category": {"coding": [{"system": ADJUDICATION, "code": "submitted"}]}}],
                }
                for seq in sequences
            ],
        }
        errors = [
            {"itemSequence": seq, "code": {"coding": [{"system": RULE_SYSTEM, "code": v.rule}], "text": v.message}}
            for seq, found in zip(sequences, verdicts, strict=True)
            for v in found
            if v.severity == "error"
        ]
        if errors:
            response["error"] = errors
        if notes:
            response["processNote"] = [
                {"number": i + 1, "type": "display", "text": v.message} for i, v in enumerate(notes)
            ]
        return response
