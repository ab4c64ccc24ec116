"""``Patient/{id}/$mr-status``: who is the MR on a day, and what is due (R3, R8, R10)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import orjson

from fhir_server.api.messages import FhirResponse
from fhir_server.api.mr.facts import MrFacts
from fhir_server.api.mr.outcomes import date_parameter, parameter
from fhir_server.api.operations import OperationCall
from fhir_server.fhir import lu_names as names
from fhir_server.fhir.lu_resources import day_of, has_coding
from fhir_server.fhir.search.query import HistoryQuery
from fhir_server.mr.mr03 import mr03_status
from fhir_server.mr.relationship import mr_on
from fhir_server.mr.resume import resume_status
from fhir_server.mr.settings import MrRuleSettings
from fhir_server.security.gate import current_access

NOMENCLATURE = f"{names.LU}/CodeSystem/cns-nomenclature"


@dataclass
class MrStatus:
    facts: MrFacts
    settings: MrRuleSettings

    async def __call__(self, call: OperationCall) -> FhirResponse:
        day = date_parameter(call.parameters.text("date"), "date", required=False) or datetime.now(self.facts.tz).date()
        patient_id = call.resource_id or ""
        reader = call.tx
        await self.facts.resource(reader, f"Patient/{patient_id}")  # 404 for an unknown patient
        pairs = await self.facts.relationships(reader, patient_id)
        current = mr_on([rel for rel, _ in pairs], patient_id, day)
        out: list[dict[str, Any]] = [parameter("date", day)]
        if current is None:
            out.append(parameter("hasMr", False))
            return FhirResponse(200, {"resourceType": "Parameters", "parameter": out})
        written = await self._resume_versions(reader, patient_id, current.doctor_id)
        resume = resume_status(current.effective, day, written, settings=self.settings)
        doctor = await self.facts.doctor(reader, current.doctor_id)
        patient = await self.facts.patient(reader, patient_id)
        mr03 = mr03_status(
            day,
            doctor,
            patient,
            [rel for rel, _ in pairs],
            await self._mr03_dates(reader, patient_id),
            resume_in_dsp=resume.first_written is not None,
            settings=self.settings,
        )
        out += [
            parameter("hasMr", True),
            parameter("careTeam", {"reference": f"CareTeam/{current.id}"}),
            parameter("mr", {"reference": current.doctor_id}),
            parameter("effectiveDate", current.effective),
            parameter("resumeDueDate", resume.due),
            parameter("resumeOverdue", resume.overdue),
        ]
        if resume.last_updated is not None:
            out.append(parameter("resumeLastUpdated", resume.last_updated))
        out.append(parameter("mr03Eligible", mr03.eligible))
        if mr03.next_billable is not None:
            out.append(parameter("mr03NextDate", mr03.next_billable))
        out += [parameter("mr03Reason", v.message) for v in mr03.violations]
        return FhirResponse(200, {"resourceType": "Parameters", "parameter": out})

    async def _resume_versions(self, reader: Any, patient_id: str, doctor: str) -> list[date]:
        """Dates the résumé patient was written or updated: ``Composition.date`` of each version (R8)."""
        visibility = await current_access().visibility()  # a résumé hidden from the caller tells nothing
        restriction = None if visibility.unrestricted else visibility
        subject = [("subject", f"Patient/{patient_id}")]
        compositions = await self.facts.all_matches(reader, "Composition", subject, restriction)
        days: list[date] = []
        for composition in compositions:
            if not has_coding(composition.get("type"), names.LOINC, names.RESUME_PATIENT_TYPE):
                continue
            page = await self.facts.repository.history(HistoryQuery("Composition", composition["id"], count=1000))
            for version in page.items:
                if version.body is not None:  # the résumé's own date, else when it was stored
                    written = orjson.loads(version.body).get("date") or version.last_updated
                    days.append(day_of(written, self.facts.tz))  # type: ignore[arg-type]
        return days

    async def _mr03_dates(self, reader: Any, patient_id: str) -> list[date]:
        """Service dates of the patient's MR03 claims (R10)."""
        visibility = await current_access().visibility()
        claims = await self.facts.all_matches(
            reader, "Claim", [("patient", f"Patient/{patient_id}")], None if visibility.unrestricted else visibility
        )
        dates = []
        for claim in claims:
            for item in claim.get("item", []):
                if has_coding(item.get("productOrService"), NOMENCLATURE, "MR03"):
                    served = (
                        item.get("servicedDate")
                        or (claim.get("billablePeriod") or {}).get("start")
                        or claim.get("created")
                    )
                    if served:
                        dates.append(day_of(served, self.facts.tz))
        return [d for d in dates if d is not None]
