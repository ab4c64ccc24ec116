"""``Patient/{id}/$everything`` (https://hl7.org/fhir/R4/patient-operation-everything.html):
the Patient, every resource of its compartment, and the practitioners and organisations
they refer to, page by page (``_count``), optionally only types in ``_type`` and resources
changed since ``_since``.

The compartment is walked type by type with the store's keyset cursors; the page cursor is
``<type index>.<store cursor>``. Each type's query carries the caller's restriction, like a
search, so nothing hidden appears.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import orjson

from fhir_server.api.bundle_builders import searchset_page
from fhir_server.api.messages import FhirResponse
from fhir_server.api.operations import Operation, OperationCall, OperationRegistry
from fhir_server.errors import BadRequest
from fhir_server.fhir.repository import Repository
from fhir_server.fhir.search.query import Clause, Criterion, InCompartment, SearchQuery, TokenValue
from fhir_server.fhir.search.restriction import visible
from fhir_server.fhir.text import ascii_digits
from fhir_server.security.compartment import PATIENT_COMPARTMENT
from fhir_server.security.gate import current_access
from fhir_server.store.base import StoredVersion

DEFINITION = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
TYPES = ("Patient", *sorted(PATIENT_COMPARTMENT))
REFERENCED_TYPES = ("Practitioner", "PractitionerRole", "Organization")
MAX_REFERENCED = 200


def _references(value: Any, found: dict[tuple[str, str], None]) -> None:
    """Literal references to practitioners and organisations anywhere in a resource."""
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str):
            rtype, _, rid = reference.partition("/")
            if rtype in REFERENCED_TYPES and rid and "/" not in rid:
                found[(rtype, rid)] = None
        for item in value.values():
            _references(item, found)
    elif isinstance(value, list):
        for item in value:
            _references(item, found)


def _cursor(raw: str | None, types: tuple[str, ...]) -> tuple[int, str | None]:
    if raw is None:
        return 0, None
    index, _, store_cursor = raw.partition(".")
    if not ascii_digits(index) or int(index) >= len(types):
        raise BadRequest(f"_cursor '{raw}' is not a $everything cursor", expression="_cursor")
    return int(index), store_cursor or None


class Everything:
    def __init__(self, repository: Repository, base_url: str, max_count: int):
        self.repository = repository
        self.base_url = base_url
        self.max_count = max_count

    def _types(self, raw: str | None) -> tuple[str, ...]:
        if not raw:
            return TYPES
        wanted = [t.strip() for t in raw.split(",") if t.strip()]
        unknown = [t for t in wanted if t not in TYPES]
        if unknown:
            raise BadRequest(f"_type: {', '.join(unknown)} not in the Patient compartment", expression="_type")
        return tuple(t for t in TYPES if t in wanted)

    def _count(self, raw: str | None) -> int:
        if raw is None:
            return 50
        if not ascii_digits(raw) or int(raw) == 0:
            raise BadRequest(f"_count must be a positive integer, not '{raw}'", expression="_count")
        return min(int(raw), self.max_count)

    async def __call__(self, call: OperationCall) -> FhirResponse:
        req = call.request
        patient_id = call.resource_id or ""
        await self.repository.read("Patient", patient_id, call.tx)  # 404 / 410 for an unknown or deleted one
        types = self._types(req.param("_type"))
        count = self._count(req.param("_count"))
        since: tuple[Criterion, ...] = ()
        if req.param("_since"):
            parsed = self.repository.parser.parse("Patient", [("_lastUpdated", f"ge{req.param('_since')}")])
            since = parsed.query.criteria
        visibility = await current_access().visibility()
        index, store_cursor = _cursor(req.param("_cursor"), types)
        items: list[StoredVersion] = []
        next_cursor: str | None = None
        reader = call.tx or self.repository.store
        while index < len(types) and len(items) < count:
            rtype = types[index]
            own: Criterion = (
                Clause("_id", "id", None, (TokenValue(patient_id, None, False),))
                if rtype == "Patient"
                else InCompartment("Patient", PATIENT_COMPARTMENT[rtype], (patient_id,))
            )
            query = SearchQuery(rtype, (own, *since, *await visibility.criteria(rtype)), count - len(items))
            page = await reader.search(replace(query, cursor=store_cursor, with_total=False))
            items += page.items
            if page.next_cursor:
                next_cursor = f"{index}.{page.next_cursor}"
                break
            index, store_cursor = index + 1, None
        if next_cursor is None and index < len(types) and len(items) >= count:
            next_cursor = f"{index}."
        included = await self._referenced(reader, items, visibility)
        current_access().seen(items + included)
        params = [(k, v) for k, v in req.params if k in ("_type", "_since")] + [("_count", str(count))]
        bundle = searchset_page(
            self.base_url,
            f"Patient/{patient_id}/$everything",
            params,
            items,
            included,
            req.param("_cursor"),
            next_cursor,
            time.time_ns() // 1000,
        )
        return FhirResponse(200, bundle)

    async def _referenced(self, reader: Any, items: list[StoredVersion], visibility: Any) -> list[StoredVersion]:
        found: dict[tuple[str, str], None] = {}
        for version in items:
            if version.body is not None:
                _references(orjson.loads(version.body), found)
        referenced = []
        for rtype, rid in list(found)[:MAX_REFERENCED]:
            version = await reader.read(rtype, rid)
            if version is not None and not version.deleted:
                referenced.append(version)
        return await visible(reader, referenced, visibility) if not visibility.unrestricted else referenced


def register_everything(operations: OperationRegistry, repository: Repository, base_url: str, max_count: int) -> None:
    operations.register(
        Operation(
            "everything",
            DEFINITION,
            Everything(repository, base_url, max_count),
            types=("Patient",),
            instance=True,
            documentation="The patient's whole record (that the caller may see), paged; _type, _since, _count",
        )
    )
