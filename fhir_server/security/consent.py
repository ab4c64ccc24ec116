"""The patient's access choices, read from their active LU Consents (R12, opt-out).

The base provision permits (opt-out); nested provisions are the patient's exceptions
(profiles/fsh/consent.fsh, following IHE PCF https://profiles.ihe.net/ITI/PCF/):
- a ``deny`` naming only actors shuts those professionals out of the whole record;
- a ``deny`` naming data, classes, codes or security labels hides those items, from the
  actors it names or, without actors, from every professional;
- a ``permit`` names professionals who may see the record (minus what is hidden);
- the policy ``…/policy/break-the-glass`` allows emergency access. A patient without any
  active Consent keeps the defaults: MR access, and break-the-glass allowed.
Several active Consents add up; a deny always wins over a permit. Provisions whose
period does not cover today (Europe/Luxembourg) are ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server.fhir.dates import parse_date_range

BREAK_THE_GLASS_POLICY = "https://fhir.mr.lu/policy/break-the-glass"
RESOURCE_TYPES_SYSTEM = "http://hl7.org/fhir/resource-types"
Coding = tuple[str | None, str]


@dataclass(frozen=True, slots=True)
class HiddenItems:
    """What one deny provision hides: any resource matching one of its parts."""

    actors: frozenset[str]  # empty: hidden from every professional
    resources: frozenset[str] = frozenset()  # "Type/id"
    resource_types: frozenset[str] = frozenset()
    codings: frozenset[Coding] = frozenset()  # matched against type, category, code and class
    labels: frozenset[Coding] = frozenset()  # matched against meta.security

    def applies_to(self, actor: str) -> bool:
        return not self.actors or actor in self.actors


@dataclass(frozen=True, slots=True)
class PatientChoices:
    patient_id: str
    denied_actors: frozenset[str] = frozenset()
    permitted_actors: frozenset[str] = frozenset()
    hidden: tuple[HiddenItems, ...] = ()
    break_the_glass: bool = True
    consents: int = 0

    def hidden_from(self, actor: str) -> tuple[HiddenItems, ...]:
        return tuple(items for items in self.hidden if items.applies_to(actor))


def _covers(period: Any, today: date, tz: ZoneInfo) -> bool:
    if not isinstance(period, dict):
        return True
    try:
        if period.get("start") and parse_date_range(period["start"], tz)[0] > _day_end(today, tz):
            return False
        if period.get("end") and parse_date_range(period["end"], tz)[1] < _day_start(today, tz):
            return False
    except ValueError:
        return False
    return True


def _day_start(day: date, tz: ZoneInfo) -> int:
    return parse_date_range(day.isoformat(), tz)[0]


def _day_end(day: date, tz: ZoneInfo) -> int:
    return parse_date_range(day.isoformat(), tz)[1]


def _actor_references(provision: dict[str, Any]) -> frozenset[str]:
    refs = ((a.get("reference") or {}).get("reference") for a in provision.get("actor", []) if isinstance(a, dict))
    return frozenset(r for r in refs if isinstance(r, str))


def _codings(items: Iterable[Any]) -> frozenset[Coding]:
    return frozenset(
        (c.get("system"), c["code"]) for c in items if isinstance(c, dict) and isinstance(c.get("code"), str)
    )


def _hidden_items(provision: dict[str, Any], actors: frozenset[str]) -> HiddenItems | None:
    data = frozenset(
        d["reference"]["reference"]
        for d in provision.get("data", [])
        if isinstance(d, dict) and isinstance((d.get("reference") or {}).get("reference"), str)
    )
    classes = provision.get("class", [])
    types = frozenset(c["code"] for c in classes if c.get("system") == RESOURCE_TYPES_SYSTEM and c.get("code"))
    codes = [coding for concept in provision.get("code", []) for coding in (concept or {}).get("coding", [])]
    codings = _codings([c for c in classes if c.get("system") != RESOURCE_TYPES_SYSTEM] + codes)
    labels = _codings(provision.get("securityLabel", []))
    if not (data or types or codings or labels):
        return None
    return HiddenItems(actors, data, types, codings, labels)


def patient_choices(patient_id: str, consents: Iterable[dict[str, Any]], today: date, tz: ZoneInfo) -> PatientChoices:
    """The combined effect of the patient's Consents on ``today``."""
    denied: set[str] = set()
    permitted: set[str] = set()
    hidden: list[HiddenItems] = []
    break_the_glass = True
    count = 0
    for consent in consents:
        base = consent.get("provision") or {}
        if consent.get("status") != "active" or not _covers(base.get("period"), today, tz):
            continue
        count += 1
        policies = {p.get("uri") for p in consent.get("policy", []) if isinstance(p, dict)}
        break_the_glass = break_the_glass and BREAK_THE_GLASS_POLICY in policies
        for provision in base.get("provision", []):
            if not isinstance(provision, dict) or not _covers(provision.get("period"), today, tz):
                continue
            actors = _actor_references(provision)
            if provision.get("type") == "permit":
                permitted |= actors
                continue
            items = _hidden_items(provision, actors)
            if items is None:
                denied |= actors
            else:
                hidden.append(items)
    return PatientChoices(
        patient_id, frozenset(denied), frozenset(permitted - denied), tuple(hidden), break_the_glass, count
    )
