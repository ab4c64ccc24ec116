"""The MR relationship's life as operations on its CareTeam (issue 6, rules R1–R7).

``$validate-declaration`` is the CNS's act: R1–R3 and R7 checked on the validation day,
then the CareTeam becomes active with a declaration number and ``period.start`` per R4/R7.
``$revoke`` applies R6 (``period.end`` = the inclusive last day), ``$end`` R5 (death).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from fhir_server.api.messages import FhirResponse
from fhir_server.api.mr.facts import MrFacts
from fhir_server.api.mr.outcomes import date_parameter, refuse
from fhir_server.api.operations import OperationCall
from fhir_server.errors import BadRequest, Conflict, Unprocessable
from fhir_server.fhir import lu_names as names
from fhir_server.fhir.lu_resources import day_of, extension, is_mr_careteam, mr_member
from fhir_server.mr.declaration import validate_declaration
from fhir_server.mr.relationship import MrRelationship
from fhir_server.mr.revocation import end_by_death, revoke
from fhir_server.mr.settings import MrRuleSettings
from fhir_server.mr.violations import RuleViolation, violation
from fhir_server.store.base import StoreTransaction

END_REASON_FOR_INITIATOR = {"mutual": "revoked-mutual", "patient": "revoked-by-patient", "doctor": "revoked-by-doctor"}
ADULT_AGE = 18


def _with_extension(resource: dict[str, Any], ext: dict[str, Any]) -> None:
    resource["extension"] = [e for e in resource.get("extension", []) if e.get("url") != ext["url"]] + [ext]


def _age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


@dataclass
class MrLifecycle:
    facts: MrFacts
    settings: MrRuleSettings

    def today(self) -> date:
        return datetime.now(self.facts.tz).date()

    async def _care_team(self, call: OperationCall) -> dict[str, Any]:
        team = await self.facts.resource(call.tx, f"CareTeam/{call.resource_id}")
        if not is_mr_careteam(team):
            raise Unprocessable(f"CareTeam/{call.resource_id} is not a médecin référent care team (category)")
        return team

    async def _save(self, team: dict[str, Any], tx: StoreTransaction | None) -> FhirResponse:
        result = await self.facts.repository.update("CareTeam", team["id"], team, tx=tx)
        return FhirResponse(200, result.version.body, result.version)

    # -- declaration -------------------------------------------------------------------------

    async def validate_declaration(self, call: OperationCall) -> FhirResponse:
        validated_on = date_parameter(call.parameters.text("validationDate"), "validationDate")
        assert validated_on is not None
        async with self.facts.repository.use_transaction(call.tx) as tx:
            call = OperationCall(call.request, call.resource_type, call.resource_id, call.parameters, tx)
            team = await self._care_team(call)
            if team.get("status") != "proposed":
                raise Conflict(
                    f"CareTeam/{team['id']} is {team.get('status')}: only a proposed declaration is validated"
                )
            patient_ref = (team.get("subject") or {}).get("reference", "")
            member = mr_member(team)
            if not patient_ref.startswith("Patient/") or member is None:
                raise Unprocessable("An MR declaration needs the patient as subject and the doctor as MR participant")
            patient_id = patient_ref.removeprefix("Patient/")
            patient = await self.facts.patient(tx, patient_id)
            doctor = await self.facts.doctor(tx, member)
            relationships = [rel for rel, _ in await self.facts.relationships(tx, patient_id)]
            decision = validate_declaration(patient, doctor, validated_on, relationships, settings=self.settings)
            problems = list(decision.violations) + await self._declaration_form(team, patient_id, validated_on, tx)
            if any(v.rule == "R1" for v in problems):
                problems += await self._ald_evidence_hint(tx, patient_id)
            refuse(problems)
            assert decision.effective is not None
            team["status"] = "active"
            team["period"] = {"start": decision.effective.isoformat()}
            number = await self._new_declaration_number(tx, validated_on)
            team["identifier"] = [*team.get("identifier", []), {"system": names.DECLARATION_SYSTEM, "value": number}]
            _with_extension(team, {"url": names.EXT_VALIDATION_DATE, "valueDate": validated_on.isoformat()})
            return await self._save(team, tx)

    async def _declaration_form(
        self, team: dict, patient_id: str, day: date, tx: StoreTransaction
    ) -> list[RuleViolation]:
        """R3: signed jointly — a signature date, and a legal representative for a minor."""
        problems = []
        signature = extension(team, names.EXT_SIGNATURE_DATE)
        if signature is None or "valueDate" not in signature:
            problems.append(violation("R3", "r3-unsigned", "the declaration has no signature date"))
        elif date.fromisoformat(signature["valueDate"]) > day:
            problems.append(violation("R3", "r3-signed-later", "the declaration is signed after its validation date"))
        patient = await self.facts.resource(tx, f"Patient/{patient_id}")
        birth = day_of(patient.get("birthDate"), self.facts.tz)
        representative = any(
            any(c.get("code") == names.ROLE_REPRESENTATIVE for r in p.get("role", []) for c in r.get("coding", []))
            for p in team.get("participant", [])
        )
        if birth is not None and _age_on(birth, day) < ADULT_AGE and not representative:
            problems.append(
                violation(
                    "R3",
                    "r3-minor",
                    "the patient is a minor: the declaration is signed by a legal representative, "
                    "who must be a participant (role legal-representative)",
                )
            )
        return problems

    async def _ald_evidence_hint(self, tx: StoreTransaction, patient_id: str) -> list[RuleViolation]:
        codes = await self.facts.icd10_evidence(tx, patient_id)
        if not codes:
            return []
        return [
            violation(
                "R1",
                "r1-icd10-evidence",
                f"ICD-10 diagnoses {', '.join(sorted(set(codes)))} are evidence for an "
                "ALD, not its recognition: record the recognised ALD (ALD code system) on a Condition",
                severity="warning",
            )
        ]

    async def _new_declaration_number(self, tx: StoreTransaction, day: date) -> str:
        """MR-<year>-<7 digits>, unique: the next number of the year not yet used."""
        prefix = f"MR-{day.year}-"
        taken = await self.facts.all_matches(tx, "CareTeam", [("identifier", f"{names.DECLARATION_SYSTEM}|")])
        numbers = [
            int(i["value"].removeprefix(prefix))
            for team in taken
            for i in team.get("identifier", [])
            if i.get("system") == names.DECLARATION_SYSTEM
            and i.get("value", "").startswith(prefix)
            and i["value"].removeprefix(prefix).isdigit()
        ]
        return f"{prefix}{max(numbers, default=0) + 1:07d}"

    # -- revocation and end ------------------------------------------------------------------

    async def _relationship(self, call: OperationCall, team: dict) -> MrRelationship:
        start = (team.get("period") or {}).get("start")
        member = mr_member(team)
        if team.get("status") != "active" or not start or member is None:
            raise Conflict(f"CareTeam/{team['id']} is not an active MR relationship")
        return MrRelationship(
            (team.get("subject") or {}).get("reference", "").removeprefix("Patient/"),
            await self.facts.practitioner_of(call.tx, member),
            day_of(start, self.facts.tz),  # type: ignore[arg-type]
            day_of((team.get("period") or {}).get("end"), self.facts.tz),
            team["id"],
        )

    async def revoke(self, call: OperationCall) -> FhirResponse:
        initiator = call.parameters.text("initiator")
        if initiator not in END_REASON_FOR_INITIATOR:
            raise BadRequest("Parameter 'initiator' must be patient, doctor or mutual")
        signed = date_parameter(call.parameters.text("signatureDate"), "signatureDate")
        received = date_parameter(call.parameters.text("receivedDate"), "receivedDate", required=False)
        async with self.facts.repository.use_transaction(call.tx) as tx:
            call = OperationCall(call.request, call.resource_type, call.resource_id, call.parameters, tx)
            team = await self._care_team(call)
            decision = revoke(await self._relationship(call, team), initiator, signed, received, settings=self.settings)  # type: ignore[arg-type]
            refuse([*decision.violations, *self._signed_after_validation(team, signed)])  # type: ignore[arg-type]
            parts = [
                {"url": "initiator", "valueCode": initiator},
                {"url": "signatureDate", "valueDate": signed.isoformat()},
            ]  # type: ignore[union-attr]
            if received is not None:
                parts.append({"url": "receivedDate", "valueDate": received.isoformat()})
            _with_extension(team, {"url": names.EXT_REVOCATION, "extension": parts})
            return await self._close(team, decision.last_day, END_REASON_FOR_INITIATOR[initiator], tx)  # type: ignore[arg-type]

    @staticmethod
    def _signed_after_validation(team: dict[str, Any], signed: date) -> list[RuleViolation]:
        """R6: a relationship is revoked once it exists, i.e. once the CNS validated it."""
        validated = extension(team, names.EXT_VALIDATION_DATE)
        if validated is not None and signed < date.fromisoformat(validated["valueDate"]):
            return [
                violation(
                    "R6",
                    "r6-before-validation",
                    f"the revocation is signed ({signed.isoformat()}) before "
                    f"the declaration was validated ({validated['valueDate']})",
                )
            ]
        return []

    async def end(self, call: OperationCall) -> FhirResponse:
        reason = call.parameters.text("reason")
        if reason not in ("deceased", "deceased-doctor", "deceased-patient"):
            raise BadRequest(
                "Parameter 'reason' must be deceased (the MR's death, R5), deceased-doctor or deceased-patient"
            )
        died = date_parameter(call.parameters.text("date"), "date")
        async with self.facts.repository.use_transaction(call.tx) as tx:
            call = OperationCall(call.request, call.resource_type, call.resource_id, call.parameters, tx)
            team = await self._care_team(call)
            decision = end_by_death(await self._relationship(call, team), died)  # type: ignore[arg-type]
            refuse(decision.violations)
            code = "deceased-patient" if reason == "deceased-patient" else "deceased-doctor"
            return await self._close(team, decision.last_day, code, tx)  # type: ignore[arg-type]

    async def _close(self, team: dict, last_day: date, reason: str, tx: StoreTransaction) -> FhirResponse:
        team["period"] = {**team["period"], "end": last_day.isoformat()}
        _with_extension(
            team,
            {
                "url": names.EXT_END_REASON,
                "valueCodeableConcept": {"coding": [{"system": names.END_REASON_SYSTEM, "code": reason}]},
            },
        )
        if last_day < self.today():
            team["status"] = "inactive"
        return await self._save(team, tx)
