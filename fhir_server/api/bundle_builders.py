"""Searchset and history Bundles (https://hl7.org/fhir/R4/bundle.html).

Stored JSON goes into the Bundle untouched (orjson.Fragment) unless the client asked
for a subset or pretty output: no parse/serialise round trip on the hot path.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_server.api.subsetting import subset
from fhir_server.errors import operation_outcome
from fhir_server.fhir.repository import format_instant
from fhir_server.fhir.search.parser import ParsedSearch
from fhir_server.store.base import Page, StoredVersion

_PASSED_ON = ("_sort", "_summary", "_elements", "_total", "_format", "_pretty")


def embedded(version: StoredVersion, summary: str | None, elements: str | None, parse: bool) -> Any:
    """The stored resource for a Bundle entry: raw bytes, or parsed when it must change."""
    assert version.body is not None
    if summary in (None, "false") and not elements and not parse:
        return orjson.Fragment(version.body)
    return subset(orjson.loads(version.body), summary, elements)


def _link(base: str, path: str, params: list[tuple[str, str]], cursor: str | None) -> str:
    query = params + ([("_cursor", cursor)] if cursor else [])
    return f"{base}/{path}" + (f"?{urlencode(query)}" if query else "")


def _links(base: str, path: str, params: list[tuple[str, str]], page: Page, cursor: str | None) -> list[dict[str, str]]:
    links = [{"relation": "self", "url": _link(base, path, params, cursor)}]
    if page.next_cursor:
        links.append({"relation": "next", "url": _link(base, path, params, page.next_cursor)})
    if page.previous_cursor:
        links.append({"relation": "previous", "url": _link(base, path, params, page.previous_cursor)})
    return links


def _bundle(kind: str, now_us: int) -> dict[str, Any]:
    return {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": format_instant(now_us)},
        "type": kind,
    }


def searchset(
    base: str, parsed: ParsedSearch, page: Page, included: list[StoredVersion], now_us: int, pretty: bool
) -> dict[str, Any]:
    result = parsed.result_params
    summary, elements = result.get("_summary"), result.get("_elements")
    rtype = parsed.query.resource_type
    params = parsed.canonical + [("_count", str(parsed.query.count))]
    params += [(k, result[k]) for k in _PASSED_ON if k in result]
    bundle = _bundle("searchset", now_us)
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = _links(base, rtype, params, page, parsed.query.cursor)
    entries: list[dict[str, Any]] = []
    if summary != "count":
        entries = [
            {
                "fullUrl": f"{base}/{v.type}/{v.id}",
                "resource": embedded(v, summary, elements, pretty),
                "search": {"mode": "match"},
            }
            for v in page.items
        ] + [
            {
                "fullUrl": f"{base}/{v.type}/{v.id}",
                "resource": embedded(v, summary, elements, pretty),
                "search": {"mode": "include"},
            }
            for v in included
        ]
    if parsed.issues:
        entries.append({"resource": operation_outcome(parsed.issues), "search": {"mode": "outcome"}})
    if entries:
        bundle["entry"] = entries
    return bundle


def searchset_page(
    base: str,
    path: str,
    params: list[tuple[str, str]],
    items: list[StoredVersion],
    included: list[StoredVersion],
    cursor: str | None,
    next_cursor: str | None,
    now_us: int,
) -> dict[str, Any]:
    """A searchset page built by an operation (``$everything``) rather than from a search."""
    bundle = _bundle("searchset", now_us)
    bundle["link"] = [{"relation": "self", "url": _link(base, path, params, cursor)}]
    if next_cursor:
        bundle["link"].append({"relation": "next", "url": _link(base, path, params, next_cursor)})
    entries = [
        {"fullUrl": f"{base}/{v.type}/{v.id}", "resource": embedded(v, None, None, False), "search": {"mode": mode}}
        for mode, versions in (("match", items), ("include", included))
        for v in versions
    ]
    if entries:
        bundle["entry"] = entries
    return bundle


def _history_entry(base: str, v: StoredVersion, pretty: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {"fullUrl": f"{base}/{v.type}/{v.id}"}
    if v.body is not None:
        entry["resource"] = embedded(v, None, None, pretty)
    url = v.type if v.method == "POST" else f"{v.type}/{v.id}"
    status = "204 No Content" if v.deleted else ("201 Created" if v.method == "POST" else "200 OK")
    entry["request"] = {"method": v.method, "url": url}
    entry["response"] = {"status": status, "etag": f'W/"{v.version_id}"', "lastModified": v.last_updated}
    return entry


def history(
    base: str, path: str, params: list[tuple[str, str]], page: Page, cursor: str | None, now_us: int, pretty: bool
) -> dict[str, Any]:
    bundle = _bundle("history", now_us)
    if page.total is not None:
        bundle["total"] = page.total
    bundle["link"] = _links(base, path, params, page, cursor)
    if page.items:
        bundle["entry"] = [_history_entry(base, v, pretty) for v in page.items]
    return bundle
