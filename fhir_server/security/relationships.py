"""Whose records a professional may open: the patients whose current médecin référent they
are (R12: opt-out, the MR sees the record by default) and the patients whose Consent permits
them; and each patient's choices (consent.py). Read from the store whenever one of the types
they come from changed (visibility_cache.py), so that a new Consent or a revocation takes
effect at the next request."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from fhir_server.fhir.lu_resources import day_of, is_mr_careteam, mr_member
from fhir_server.fhir.repository import Repository
from fhir_server.security.consent import PatientChoices, patient_choices
from fhir_server.security.visibility_cache import VisibilityCache

PAGE = 1000


class CareRelations:
    def __init__(self, repository: Repository, tz: ZoneInfo):
        self.repository = repository
        self.tz = tz
        self.visibility_cache = VisibilityCache(repository.store)

    def today(self) -> date:
        return datetime.now(self.tz).date()

    async def _all(self, resource_type: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            page_params = [*params, ("_count", str(PAGE)), ("_total", "none")]
            if cursor:
                page_params.append(("_cursor", cursor))
            _, page, _ = await self.repository.search(resource_type, page_params)
            found += [orjson.loads(v.body) for v in page.items if v.body is not None]
            cursor = page.next_cursor
            if not cursor:
                return found

    async def identities(self, practitioner: str) -> frozenset[str]:
        """``Practitioner/x`` and the PractitionerRoles it fills: either may be named as MR or actor."""
        roles = await self._all("PractitionerRole", [("practitioner", practitioner)])
        return frozenset([practitioner, *(f"PractitionerRole/{r['id']}" for r in roles)])

    async def mr_patients(self, identities: frozenset[str]) -> set[str]:
        # only the selective criterion goes to the store: status and category match most CareTeams
        teams = await self._all("CareTeam", [("participant", ",".join(sorted(identities)))])
        today = self.today()
        patients = set()
        for team in teams:
            if team.get("status") != "active":
                continue
            period = team.get("period") or {}
            start, end = day_of(period.get("start"), self.tz), day_of(period.get("end"), self.tz)
            if not is_mr_careteam(team) or mr_member(team) not in identities or start is None or start > today:
                continue
            if end is not None and end < today:
                continue
            subject = (team.get("subject") or {}).get("reference", "")
            if subject.startswith("Patient/"):
                patients.add(subject.removeprefix("Patient/"))
        return patients

    async def permitting_patients(self, identities: frozenset[str]) -> set[str]:
        consents = await self._all("Consent", [("permitted-actor", ",".join(sorted(identities))), ("status", "active")])
        return {
            (c.get("patient") or {}).get("reference", "").removeprefix("Patient/")
            for c in consents
            if (c.get("patient") or {}).get("reference", "").startswith("Patient/")
        }

    async def choices(self, patient_ids: Iterable[str]) -> dict[str, PatientChoices]:
        """Every given patient's choices (the defaults for patients without a Consent)."""
        ids = sorted(set(patient_ids))
        by_patient: dict[str, list[dict[str, Any]]] = {pid: [] for pid in ids}
        for start in range(0, len(ids), PAGE):
            chunk = ",".join(f"Patient/{pid}" for pid in ids[start : start + PAGE])
            for consent in await self._all("Consent", [("patient", chunk)]):  # patient_choices skips inactive ones
                reference = (consent.get("patient") or {}).get("reference", "").removeprefix("Patient/")
                if reference in by_patient:
                    by_patient[reference].append(consent)
        today = self.today()
        return {pid: patient_choices(pid, consents, today, self.tz) for pid, consents in by_patient.items()}
