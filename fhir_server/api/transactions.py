"""Batch and transaction Bundles (https://hl7.org/fhir/R4/http.html#transaction).

A transaction is all-or-nothing: every entry runs inside one store transaction, in the
order DELETE, POST, PUT/PATCH, GET; ``urn:uuid`` (and other fullUrl) references are
rewritten to the ids the server assigns, conditional references are resolved. A batch
runs each entry on its own and reports each outcome.

Between entries both stop at a :func:`checkpoint` once the request is cancelled (its time
limit): a transaction is then rolled back whole, a batch keeps the entries done before.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from fhir_server.api.messages import FhirRequest, FhirResponse
from fhir_server.errors import BadRequest, FhirError, Issue, PayloadTooLarge, operation_outcome
from fhir_server.fhir.repository import Repository
from fhir_server.store.base import StoreTransaction
from fhir_server.store.cancellation import checkpoint

Dispatch = Callable[[FhirRequest, StoreTransaction | None], Awaitable[FhirResponse]]
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "PATCH": 2, "GET": 3, "HEAD": 3}
_HEADER_FIELDS = {
    "ifMatch": "if-match",
    "ifNoneMatch": "if-none-match",
    "ifNoneExist": "if-none-exist",
    "ifModifiedSince": "if-modified-since",
}
_REASONS = {200: "OK", 201: "Created", 204: "No Content", 304: "Not Modified"}


@dataclass
class _Entry:
    index: int
    request: FhirRequest
    full_url: str | None


def _status_line(status: int) -> str:
    return f"{status} {_REASONS.get(status, '')}".strip()


class BundleProcessor:
    def __init__(self, repository: Repository, dispatch: Dispatch, base_url: str, max_entries: int = 10_000):
        self.repository = repository
        self.dispatch = dispatch
        self.base_url = base_url
        self.max_entries = max_entries

    async def __call__(self, req: FhirRequest) -> FhirResponse:
        bundle = req.body
        if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
            raise BadRequest("POST to the base URL takes a Bundle of type batch or transaction")
        kind = bundle.get("type")
        if kind not in ("batch", "transaction"):
            raise BadRequest(f"Bundle.type must be batch or transaction, not '{kind}'", expression="Bundle.type")
        raw_entries = bundle.get("entry") or []
        if len(raw_entries) > self.max_entries:
            raise PayloadTooLarge(
                f"The Bundle has {len(raw_entries)} entries; this server takes at most {self.max_entries} per request"
            )
        entries = [self._entry(i, e) for i, e in enumerate(raw_entries)]
        prefer = req.headers.get("prefer", "")
        if kind == "transaction":
            responses = await self._transaction(entries, prefer)
        else:
            responses = []
            for entry in entries:
                await checkpoint()
                responses.append(await self._batch_entry(entry, prefer))
        return FhirResponse(
            200, {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": f"{kind}-response", "entry": responses}
        )

    def _entry(self, index: int, raw: Any) -> _Entry:
        where = f"Bundle.entry[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("request"), dict):
            raise BadRequest(f"{where} has no request", expression=f"{where}.request")
        request = raw["request"]
        method, url = request.get("method"), request.get("url")
        if not isinstance(method, str) or method not in _ORDER or not isinstance(url, str) or not url:
            raise BadRequest(
                f"{where}.request needs a method (GET, POST, PUT, PATCH, DELETE) and a url",
                expression=f"{where}.request",
            )
        if url.startswith(self.base_url + "/"):
            url = url[len(self.base_url) + 1 :]
        parts = urlsplit(url)
        if parts.scheme or parts.netloc:
            raise BadRequest(
                f"{where}.request.url must be relative to this server: '{url}'", expression=f"{where}.request.url"
            )
        headers = {h: request[f] for f, h in _HEADER_FIELDS.items() if isinstance(request.get(f), str)}
        if "prefer" in request:
            headers["prefer"] = request["prefer"]
        body = raw.get("resource")
        if method in ("POST", "PUT", "PATCH") and body is None:
            raise BadRequest(f"{where} ({method}) has no resource", expression=f"{where}.resource")
        segments = [s for s in parts.path.split("/") if s]
        fhir_request = FhirRequest(method, segments, parse_qsl(parts.query, keep_blank_values=True), headers, body)
        full_url = raw.get("fullUrl") if isinstance(raw.get("fullUrl"), str) else None
        return _Entry(index, fhir_request, full_url)

    # -- transaction -------------------------------------------------------------------------

    async def _transaction(self, entries: list[_Entry], prefer: str) -> list[dict[str, Any]]:
        responses: list[dict[str, Any] | None] = [None] * len(entries)
        async with self.repository.transaction() as tx:
            identities = await self._assign_identities(entries, tx)
            self._check_overlaps(entries, identities)
            for entry in entries:
                if entry.request.body is not None:
                    entry.request.body = await self._rewrite(entry.request.body, identities, tx)
            for entry in sorted(entries, key=lambda e: _ORDER[e.request.method]):
                await checkpoint()
                try:
                    response = await self.dispatch(entry.request, tx)
                except FhirError as exc:
                    where = f"Bundle.entry[{entry.index}]"
                    exc.issues = [
                        Issue(i.code, f"{where}: {i.diagnostics}", i.severity, i.expression) for i in exc.issues
                    ]
                    raise
                responses[entry.index] = self._response_entry(
                    response, prefer or entry.request.headers.get("prefer", "")
                )
            await checkpoint()  # the last entry's work too: nothing cancelled is committed
        return [r for r in responses if r is not None]

    async def _assign_identities(self, entries: list[_Entry], tx: StoreTransaction) -> dict[str, str]:
        """fullUrl → "Type/id" for every entry that creates or updates a resource."""
        identities: dict[str, str] = {}
        for entry in entries:
            await checkpoint()
            req = entry.request
            if req.method == "POST" and len(req.segments) == 1:
                rtype = req.segments[0]
                criteria = req.headers.get("if-none-exist")
                existing = await self.repository.match(rtype, criteria, tx, "If-None-Exist") if criteria else None
                req.assigned_id = existing.id if existing else str(uuid.uuid4())
                identity = f"{rtype}/{req.assigned_id}"
            elif req.method == "PUT" and len(req.segments) == 2:
                identity = "/".join(req.segments)
            elif req.method == "PUT" and len(req.segments) == 1 and req.params:
                rtype = req.segments[0]
                criteria = urlencode(req.params)
                existing = await self.repository.match(rtype, criteria, tx, "conditional update")
                rid = existing.id if existing else (req.body or {}).get("id") or str(uuid.uuid4())
                if isinstance(req.body, dict):
                    req.body = {**req.body, "id": rid}
                identity = f"{rtype}/{rid}"
            else:
                continue
            if entry.full_url:
                identities[entry.full_url] = identity
        return identities

    @staticmethod
    def _check_overlaps(entries: list[_Entry], identities: dict[str, str]) -> None:
        seen: set[str] = set()
        for entry in entries:
            req = entry.request
            if req.method in ("PUT", "PATCH", "DELETE") and len(req.segments) == 2:
                identity = "/".join(req.segments)
                if identity in seen:
                    raise BadRequest(f"{identity} is changed by more than one entry of the transaction")
                seen.add(identity)

    async def _rewrite(self, node: Any, identities: dict[str, str], tx: StoreTransaction) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "reference" and isinstance(value, str):
                    out[key] = await self._resolve_reference(value, identities, tx)
                elif key == "div" and isinstance(value, str):
                    for full_url, identity in identities.items():
                        value = value.replace(f'"{full_url}"', f'"{identity}"')
                    out[key] = value
                else:
                    out[key] = await self._rewrite(value, identities, tx)
            return out
        if isinstance(node, list):
            return [await self._rewrite(v, identities, tx) for v in node]
        if isinstance(node, str) and node in identities:
            return identities[node]
        return node

    async def _resolve_reference(self, value: str, identities: dict[str, str], tx: StoreTransaction) -> str:
        if value in identities:
            return identities[value]
        if value.startswith("urn:uuid:") or value.startswith("urn:oid:"):
            raise BadRequest(f"Reference '{value}' points to no entry of the transaction")
        rtype, sep, criteria = value.partition("?")
        if sep and "/" not in rtype and rtype[:1].isupper():  # conditional reference
            match = await self.repository.match(rtype, criteria, tx, f"conditional reference '{value}'")
            if match is None:
                raise BadRequest(f"Conditional reference '{value}' matches no resource")
            return f"{rtype}/{match.id}"
        return value

    # -- batch -------------------------------------------------------------------------------

    async def _batch_entry(self, entry: _Entry, prefer: str) -> dict[str, Any]:
        try:
            response = await self.dispatch(entry.request, None)
        except FhirError as exc:
            return {"response": {"status": str(exc.status), "outcome": exc.outcome()}}
        return self._response_entry(response, prefer or entry.request.headers.get("prefer", ""))

    def _response_entry(self, response: FhirResponse, prefer: str) -> dict[str, Any]:
        result: dict[str, Any] = {"status": _status_line(response.status)}
        version = response.version
        if version is not None:
            result["etag"] = f'W/"{version.version_id}"'
            result["lastModified"] = version.last_updated
            if response.status == 201 or response.location:
                result["location"] = f"{version.type}/{version.id}/_history/{version.version_id}"
        elif "ETag" in response.headers:
            result["etag"] = response.headers["ETag"]
        entry: dict[str, Any] = {}
        body = response.resource
        if isinstance(body, bytes):
            body = orjson.loads(body)
        if body is not None and "return=minimal" not in prefer:
            if "return=OperationOutcome" in prefer:
                result["outcome"] = operation_outcome([Issue("informational", "OK", severity="information")])
            else:
                entry["resource"] = body
                if version is not None:
                    entry["fullUrl"] = f"{self.base_url}/{version.type}/{version.id}"
        entry["response"] = result
        return entry
