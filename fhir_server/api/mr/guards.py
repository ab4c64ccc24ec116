"""R8: only the patient's current MR writes the résumé patient; anyone else gets 403.

The writer is the caller when a practitioner's token says who they are; for system clients
(and with authentication off) it is the Composition's ``author``: the patient's MR on the day
of writing must be among the authors.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fhir_server.api.mr.facts import MrFacts
from fhir_server.errors import Forbidden, Issue
from fhir_server.fhir.lu_resources import is_resume_patient
from fhir_server.mr.resume import may_write_resume
from fhir_server.security.gate import current_access
from fhir_server.store.base import StoreReader


@dataclass
class ResumeAuthorGuard:
    facts: MrFacts

    async def guard(self, resource: dict[str, Any], reader: StoreReader) -> None:
        if not is_resume_patient(resource):
            return
        subject = (resource.get("subject") or {}).get("reference", "")
        if not subject.startswith("Patient/"):
            raise Forbidden("A résumé patient is written for a Patient by the patient's MR (R8)")
        patient_id = subject.removeprefix("Patient/")
        today = datetime.now(self.facts.tz).date()
        relationships = [rel for rel, _ in await self.facts.relationships(reader, patient_id)]
        refusals = []
        actor = current_access().actor
        writers = [{"reference": actor.who}] if actor is not None and actor.kind == "practitioner" else None
        for author in writers or resource.get("author", []):
            reference = author.get("reference", "")
            if not reference.startswith(("Practitioner/", "PractitionerRole/")):
                continue
            practitioner = await self.facts.practitioner_of(reader, reference)
            problems = may_write_resume(practitioner, patient_id, today, relationships)
            if not problems:
                return
            refusals += problems
        if not refusals:
            refusals_text = "R8: the résumé patient names no practitioner author; only the patient's MR writes it"
            raise Forbidden(refusals_text)
        raise Forbidden(refusals[0].message, issues=[Issue("forbidden", v.message) for v in refusals])
