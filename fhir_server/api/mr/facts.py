"""Read the facts the MR rules decide on from stored FHIR resources.

Mapping (profiles/README.md):
- R1 patient: recognised ALD = a confirmed, active Condition coded in the ALD code system
  (onset → abatement); DSP = the Patient's ``dsp-status`` extension (activated); affiliation =
  an active Coverage of the patient (its period).
- R2 doctor: disciplines from PractitionerRole.specialty (SNOMED CT general practice,
  paediatrics); primary care unless a role is coded ``practice-setting|hospital``; the CNS
  provider code identifier (and its period) of the Practitioner or the role.
- R3–R7 relationships: MR CareTeams (category medecin-referent) with a ``period.start``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from fhir_server.errors import NotFound
from fhir_server.fhir import lu_names as names
from fhir_server.fhir.lu_resources import codings, day_of, extension, has_coding, is_mr_careteam, mr_member
from fhir_server.fhir.repository import Repository
from fhir_server.fhir.search.restriction import SearchRestriction
from fhir_server.mr.calendar import Span
from fhir_server.mr.eligibility import AldRecognition, DoctorFacts, PatientFacts
from fhir_server.mr.relationship import MrRelationship
from fhir_server.store.base import StoreReader

MAX_FACTS = 500  # resources of one kind read for one patient or doctor


@dataclass
class MrFacts:
    repository: Repository
    tz: Any

    async def all_matches(
        self,
        reader: StoreReader | None,
        resource_type: str,
        params: list[tuple[str, str]],
        restriction: SearchRestriction | None = None,
    ) -> list[dict]:
        """Matches (at most MAX_FACTS); with a restriction, only those the caller may see. Pass the
        selective criteria only (the patient, the doctor) and filter on status or type here: on
        SQLite each criterion is a list of matching index rows, and "status=active" lists every
        Coverage of the store (~15 ms on 80,000)."""
        _, page, _ = await self.repository.search(
            resource_type,
            [*params, ("_count", str(MAX_FACTS)), ("_total", "none")],
            reader=reader,
            restriction=restriction,
        )
        return [orjson.loads(v.body) for v in page.items if v.body is not None]

    async def resource(self, reader: StoreReader | None, reference: str) -> dict[str, Any]:
        rtype, _, rid = reference.partition("/")
        if not rid:
            raise NotFound(f"'{reference}' is not a resolvable reference")
        return orjson.loads((await self.repository.read(rtype, rid, reader)).body or b"{}")

    async def practitioner_of(self, reader: StoreReader | None, member: str) -> str:
        """Practitioner/x for a member that is a Practitioner or a PractitionerRole."""
        if member.startswith("PractitionerRole/"):
            role = await self.resource(reader, member)
            practitioner = (role.get("practitioner") or {}).get("reference")
            if not practitioner:
                raise NotFound(f"{member} names no practitioner")
            return practitioner
        return member

    async def patient(self, reader: StoreReader | None, patient_id: str) -> PatientFacts:
        patient = await self.resource(reader, f"Patient/{patient_id}")
        conditions = await self.all_matches(reader, "Condition", [("subject", f"Patient/{patient_id}")])
        ald = tuple(
            AldRecognition(
                coding["code"],
                Span(day_of(c.get("onsetDateTime"), self.tz), day_of(c.get("abatementDateTime"), self.tz)),
            )
            for c in conditions
            if has_coding(
                c.get("verificationStatus"), "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed"
            )
            and not has_coding(
                c.get("clinicalStatus"), "http://terminology.hl7.org/CodeSystem/condition-clinical", "resolved"
            )
            for coding in codings(c.get("code"))
            if coding.get("system") == names.ALD_SYSTEM and coding.get("code")
        )
        dsp_ext = extension(patient, names.EXT_DSP_STATUS)
        dsp = (Span(),) if dsp_ext is not None and dsp_ext.get("valueCode") == "activated" else ()
        coverages = await self.all_matches(reader, "Coverage", [("beneficiary", f"Patient/{patient_id}")])
        affiliations = tuple(
            Span(
                day_of((c.get("period") or {}).get("start"), self.tz),
                day_of((c.get("period") or {}).get("end"), self.tz),
            )
            for c in coverages
            if c.get("status") == "active"
        )
        return PatientFacts(patient_id, ald, dsp, affiliations)

    async def icd10_evidence(self, reader: StoreReader | None, patient_id: str) -> list[str]:
        """ICD-10 codes of the patient's Conditions: evidence for an ALD, not a recognition (R1)."""
        conditions = await self.all_matches(reader, "Condition", [("subject", f"Patient/{patient_id}")])
        return [
            c["code"]
            for cond in conditions
            for c in codings(cond.get("code"))
            if c.get("system") == names.ICD10_SYSTEM and c.get("code")
        ]

    async def doctor(self, reader: StoreReader | None, member: str) -> DoctorFacts:
        practitioner_ref = await self.practitioner_of(reader, member)
        practitioner = await self.resource(reader, practitioner_ref)
        roles = await self.all_matches(reader, "PractitionerRole", [("practitioner", practitioner_ref)])
        disciplines = frozenset(
            names.DISCIPLINE_BY_SNOMED[c["code"]]
            for role in roles
            for specialty in role.get("specialty", [])
            for c in codings(specialty)
            if c.get("system") == names.SNOMED and c.get("code") in names.DISCIPLINE_BY_SNOMED
        )
        hospital = any(
            has_coding(code, names.PRACTICE_SETTING_SYSTEM, "hospital")
            for role in roles
            for code in role.get("code", [])
        )
        identifiers = [*practitioner.get("identifier", []), *(i for role in roles for i in role.get("identifier", []))]
        code = next((i for i in identifiers if i.get("system") == names.PROVIDER_CODE_SYSTEM and i.get("value")), None)
        validity = Span()
        if code is not None and code.get("period"):
            validity = Span(day_of(code["period"].get("start"), self.tz), day_of(code["period"].get("end"), self.tz))
        return DoctorFacts(
            practitioner_ref,
            disciplines,
            primary_care=bool(roles) and not hospital,
            provider_code=code["value"] if code else None,
            provider_code_validity=validity,
        )

    async def relationships(self, reader: StoreReader | None, patient_id: str) -> list[tuple[MrRelationship, dict]]:
        """The patient's validated MR relationships, with their CareTeams."""
        teams = await self.all_matches(reader, "CareTeam", [("subject", f"Patient/{patient_id}")])
        found = []
        for team in teams:
            start = (team.get("period") or {}).get("start")
            member = mr_member(team)
            if (
                not is_mr_careteam(team)
                or not start
                or member is None
                or team.get("status") not in ("active", "inactive")
            ):
                continue
            doctor = await self.practitioner_of(reader, member)
            rel = MrRelationship(
                patient_id, doctor, day_of(start, self.tz), day_of(team["period"].get("end"), self.tz), team["id"]
            )  # type: ignore[arg-type]
            found.append((rel, team))
        return found
