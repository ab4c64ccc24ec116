"""Small readers of resources under the Luxembourg profiles (profiles/README.md): the
Luxembourg calendar day of a date, codings, whether a CareTeam is an MR relationship and who
its MR is. Shared by the MR operations (api/mr) and the access decision (security)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fhir_server.fhir import lu_names as names
from fhir_server.fhir.dates import parse_date_range


def day_of(value: str | None, tz: Any) -> date | None:
    """The Luxembourg calendar date a FHIR date/dateTime starts on."""
    if not value:
        return None
    low, _ = parse_date_range(value, tz)
    return datetime.fromtimestamp(low / 1_000_000, tz).date()


def codings(concept: Any) -> list[dict[str, Any]]:
    return [c for c in (concept or {}).get("coding", []) if isinstance(c, dict)] if isinstance(concept, dict) else []


def has_coding(concept: Any, system: str, code: str | None = None) -> bool:
    return any(c.get("system") == system and (code is None or c.get("code") == code) for c in codings(concept))


def is_mr_careteam(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "CareTeam" and any(
        has_coding(category, names.CARETEAM_CATEGORY, names.ROLE_MR) for category in resource.get("category", [])
    )


def is_resume_patient(resource: dict[str, Any]) -> bool:
    return resource.get("resourceType") == "Composition" and has_coding(
        resource.get("type"), names.LOINC, names.RESUME_PATIENT_TYPE
    )


def mr_member(care_team: dict[str, Any]) -> str | None:
    """The reference of the MR participant (Practitioner/… or PractitionerRole/…)."""
    for participant in care_team.get("participant", []):
        if any(has_coding(role, names.CARETEAM_ROLE, names.ROLE_MR) for role in participant.get("role", [])):
            return (participant.get("member") or {}).get("reference")
    return None


def extension(resource: dict[str, Any], url: str) -> dict[str, Any] | None:
    return next((e for e in resource.get("extension", []) if e.get("url") == url), None)
