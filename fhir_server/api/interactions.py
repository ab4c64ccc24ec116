"""Dispatch a :class:`FhirRequest` to its interaction (https://hl7.org/fhir/R4/http.html).

Handlers are thin: they read the request, call the repository and describe the answer.
HTTP concerns (headers, negotiation, serialisation) stay in :mod:`.http`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_server.api import bundle_builders
from fhir_server.api.messages import FhirRequest, FhirResponse
from fhir_server.api.operations import OperationCall, OperationRegistry, call_parameters
from fhir_server.api.subsetting import check_summary
from fhir_server.errors import BadRequest, Forbidden, Gone, MethodNotAllowed, NotFound, UnsupportedMediaType
from fhir_server.fhir.dates import parse_date_range
from fhir_server.fhir.repository import Repository, WriteResult, parse_etag
from fhir_server.fhir.search.query import HistoryQuery
from fhir_server.fhir.text import ascii_digits
from fhir_server.security.gate import current_access
from fhir_server.store.base import StoredVersion, StoreReader, StoreTransaction

Handler = Callable[["Interactions", FhirRequest, StoreTransaction | None], Awaitable[FhirResponse]]


def _written(result: WriteResult) -> FhirResponse:
    if result.status == 204:
        headers = {"ETag": f'W/"{result.version.version_id}"'} if result.version else {}
        return FhirResponse(204, headers=headers)
    assert result.version is not None
    return FhirResponse(result.status, result.version.body, result.version, location=result.status == 201)


def _patch_body(req: FhirRequest) -> Any:
    body = req.body
    if isinstance(body, dict) and body.get("resourceType") == "Binary":  # JSON Patch inside a Bundle
        try:
            return orjson.loads(base64.b64decode(body.get("data", "")))
        except (ValueError, orjson.JSONDecodeError):
            raise BadRequest("The Binary of a PATCH entry must hold a JSON Patch document") from None
    if isinstance(body, dict) and body.get("resourceType") == "Parameters":
        raise UnsupportedMediaType(
            "FHIRPath Patch is not supported yet; send a JSON Patch (application/json-patch+json)"
        )
    return body


@dataclass
class Interactions:
    repository: Repository
    base_url: str
    supported_types: frozenset[str]
    capability: Callable[[], dict[str, Any]]
    max_count: int
    operations: OperationRegistry
    bundle_handler: Callable[[FhirRequest], Awaitable[FhirResponse]] | None = None

    def route(self, method: str, segments: list[str]) -> Handler:
        """The handler for a method and path; 404 for unknown paths or types, 405 for methods."""
        if segments and segments[-1].startswith("$"):
            return self._operation_route(method, segments)
        if segments and segments[0] not in ("metadata", "_history") and segments[0] not in self.supported_types:
            raise NotFound(f"Resource type '{segments[0]}' is not supported by this server")
        shape = self._shape(segments)
        handler = _ROUTES.get((shape, method))
        if handler is None:
            if any(key[0] == shape for key in _ROUTES):
                raise MethodNotAllowed(f"{method} is not allowed on {'/'.join(segments) or 'the base URL'}")
            raise NotFound(f"No FHIR interaction at '/{'/'.join(segments)}'")
        return handler

    def _operation_route(self, method: str, segments: list[str]) -> Handler:
        name = segments[-1][1:]
        if len(segments) > 3 or (len(segments) > 1 and segments[0] not in self.supported_types):
            raise NotFound(f"No operation at '/{'/'.join(segments)}'")
        resource_type = segments[0] if len(segments) > 1 else None
        resource_id = segments[1] if len(segments) == 3 else None
        operation = self.operations.find(name, resource_type, instance=resource_id is not None)
        if operation is None:
            where = f" on {resource_type}{' instances' if resource_id else ''}" if resource_type else ""
            raise NotFound(f"Operation ${name} is not supported{where}")
        if method not in ("GET", "POST") or (method == "GET" and operation.affects_state):
            raise MethodNotAllowed(f"${name} takes {'POST' if operation.affects_state else 'GET or POST'}")

        async def run(self: Interactions, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
            await self._check_operation(name, operation.affects_state, resource_type, resource_id, tx)
            call = OperationCall(req, resource_type, resource_id, call_parameters(req), tx)
            return await operation.handler(call)

        return run

    async def _check_operation(
        self, name: str, affects_state: bool, resource_type: str | None, resource_id: str | None, tx: Any
    ) -> None:
        """The caller's role must allow the operation, their scopes the type, and they must see the instance."""
        access = current_access()
        access.require_operation(name)
        actor = access.actor
        if actor is None or resource_type is None:
            return
        letter = ("u" if resource_id else "c") if affects_state else ("r" if resource_id else "s")
        if not actor.may(resource_type, letter):
            access.denied = True
            raise Forbidden(f"The access token's scopes do not allow ${name} on {resource_type} ('{letter}')")
        if resource_id is not None:
            if (
                resource_type == "Practitioner"
                and actor.kind == "practitioner"
                and actor.who != f"Practitioner/{resource_id}"
            ):
                access.denied = True
                raise Forbidden(f"${name} on another practitioner is not available to you")
            await self._visible(resource_type, resource_id, tx)

    async def _visible(self, resource_type: str, resource_id: str, reader: StoreReader | None) -> StoredVersion:
        """The current version if the caller may see it; hidden answers like missing (404)."""
        access = current_access()
        try:
            version = await self.repository.read(resource_type, resource_id, reader)
        except Gone:
            if access.actor is not None and access.actor.kind not in ("system", "cns"):
                raise NotFound(f"{resource_type}/{resource_id} is not known") from None
            raise
        await access.check_visible(reader or self.repository.store, version)
        return version

    async def handle(self, req: FhirRequest, tx: StoreTransaction | None = None) -> FhirResponse:
        return await self.route(req.method, req.segments)(self, req, tx)

    @staticmethod
    def _shape(segments: list[str]) -> str:
        n = len(segments)
        if n == 0:
            return "system"
        if n == 1:
            return {"metadata": "metadata", "_history": "system-history"}.get(segments[0], "type")
        if n == 2:
            return {"_search": "type-search", "_history": "type-history"}.get(segments[1], "instance")
        if n == 3 and segments[2] == "_history":
            return "instance-history"
        if n == 4 and segments[2] == "_history":
            return "version"
        return "unknown"

    # -- handlers ----------------------------------------------------------------------------

    async def metadata(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        return FhirResponse(200, self.capability())

    async def read(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        rtype, rid = req.segments
        current_access().require_scope("read", rtype)
        version = await self._visible(rtype, rid, tx)
        if_none_match = req.headers.get("if-none-match")
        if if_none_match and if_none_match.strip() != "*" and parse_etag(if_none_match) == version.version_id:
            return FhirResponse(304, version=version)
        since = req.headers.get("if-modified-since")
        if since:
            try:
                threshold = parsedate_to_datetime(since).timestamp()
            except (TypeError, ValueError):
                raise BadRequest(f"If-Modified-Since '{since}' is not an HTTP date") from None
            if version.last_updated_us // 1_000_000 <= threshold:
                return FhirResponse(304, version=version)
        return FhirResponse(200, version.body, version)

    async def vread(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        rtype, rid, _, vid = req.segments
        access = current_access()
        access.require_scope("vread", rtype)
        if access.actor is not None:
            await self._visible(rtype, rid, tx)
        version = await self.repository.vread(rtype, rid, vid, tx)
        return FhirResponse(200, version.body, version)

    async def search(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        check_summary(req.param("_summary"))
        access = current_access()
        access.require_scope("search-type", req.segments[0])
        visibility = await access.visibility()
        parsed, page, included = await self.repository.search(
            req.segments[0],
            req.params,
            strict=req.strict,
            reader=tx,
            restriction=None if visibility.unrestricted else visibility,
        )
        access.seen(page.items + included)
        pretty = req.param("_pretty") == "true"
        bundle = bundle_builders.searchset(self.base_url, parsed, page, included, time.time_ns() // 1000, pretty)
        return FhirResponse(200, bundle)

    async def history(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        segs = req.segments
        rtype = segs[0] if segs and segs[0] != "_history" else None
        rid = segs[1] if len(segs) == 3 else None
        access = current_access()
        if rtype is None or rid is None:
            if access.actor is not None and access.actor.kind != "system":
                access.denied = True
                raise Forbidden("Type and system history are available to system clients only; read a resource's own")
            if rtype is not None:
                access.require_scope("history-type", rtype)
        else:
            access.require_scope("history-instance", rtype)
            if access.actor is not None:
                await self._visible(rtype, rid, tx)
        since_raw = req.param("_since")
        since_us = None
        if since_raw is not None:
            try:
                since_us = parse_date_range(since_raw, self.repository.parser.tz)[0]
            except ValueError as exc:
                raise BadRequest(f"Invalid _since: {exc}", expression="_since") from None
        count_raw = req.param("_count") or "20"
        if not ascii_digits(count_raw):
            raise BadRequest(f"_count must be a non-negative integer, not '{count_raw}'", expression="_count")
        query = HistoryQuery(rtype, rid, since_us, min(int(count_raw), self.max_count), req.param("_cursor"))
        page = await self.repository.history(query)
        if rid and page.total == 0 and await self.repository.store.read(rtype, rid) is None:
            raise NotFound(f"{rtype}/{rid} is not known")
        params = [(k, v) for k, v in req.params if k in ("_since", "_count")]
        path = "/".join(segs)
        pretty = req.param("_pretty") == "true"
        bundle = bundle_builders.history(
            self.base_url, path, params, page, query.cursor, time.time_ns() // 1000, pretty
        )
        return FhirResponse(200, bundle)

    async def create(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        access = current_access()
        access.require_scope("create", req.segments[0])
        if req.headers.get("if-none-exist"):
            access.require_unconditional("create")
        result = await self.repository.create(
            req.segments[0],
            req.body,
            if_none_exist=req.headers.get("if-none-exist"),
            resource_id=req.assigned_id,
            tx=tx,
        )
        return _written(result)

    async def update(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        rtype, rid = req.segments
        await self._may_change("update", rtype, rid, tx)
        result = await self.repository.update(rtype, rid, req.body, if_match=req.headers.get("if-match"), tx=tx)
        return _written(result)

    async def conditional_update(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        self._may_change_conditionally("update", req.segments[0])
        result = await self.repository.conditional_update(
            req.segments[0], self._criteria(req), req.body, if_match=req.headers.get("if-match"), tx=tx
        )
        return _written(result)

    async def patch(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        rtype, rid = req.segments
        await self._may_change("patch", rtype, rid, tx)
        result = await self.repository.patch(rtype, rid, _patch_body(req), if_match=req.headers.get("if-match"), tx=tx)
        return _written(result)

    async def conditional_patch(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        self._may_change_conditionally("patch", req.segments[0])
        result = await self.repository.conditional_patch(
            req.segments[0], self._criteria(req), _patch_body(req), if_match=req.headers.get("if-match"), tx=tx
        )
        return _written(result)

    async def delete(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        rtype, rid = req.segments
        await self._may_change("delete", rtype, rid, tx)
        return _written(await self.repository.delete(rtype, rid, tx=tx))

    async def conditional_delete(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        self._may_change_conditionally("delete", req.segments[0])
        return _written(await self.repository.conditional_delete(req.segments[0], self._criteria(req), tx=tx))

    async def bundle(self, req: FhirRequest, tx: StoreTransaction | None) -> FhirResponse:
        if tx is not None or self.bundle_handler is None:
            raise BadRequest("A batch or transaction cannot be nested inside another")
        return await self.bundle_handler(req)

    async def _may_change(self, interaction: str, rtype: str, rid: str, tx: StoreReader | None) -> None:
        """Scope and role, and the current version (if any) must be visible; the new content is
        checked by the repository's write guard (security.write_guard)."""
        access = current_access()
        access.require_scope(interaction, rtype)
        if access.actor is not None:
            current = await (tx or self.repository.store).read(rtype, rid)
            if current is not None and not current.deleted:
                await access.check_visible(tx or self.repository.store, current)

    @staticmethod
    def _may_change_conditionally(interaction: str, rtype: str) -> None:
        access = current_access()
        access.require_scope(interaction, rtype)
        access.require_unconditional(interaction)

    @staticmethod
    def _criteria(req: FhirRequest) -> str:
        criteria = [(k, v) for k, v in req.params if not k.startswith("_format") and k != "_pretty"]
        if not criteria:
            raise BadRequest(f"{req.method} on a type needs search criteria (a conditional {req.method.lower()})")
        return urlencode(criteria)


_RESTFUL_INTERACTION = {
    ("system", "POST"): "transaction",
    ("metadata", "GET"): "capabilities",
    ("system-history", "GET"): "history-system",
    ("type", "GET"): "search-type",
    ("type", "POST"): "create",
    ("type", "PUT"): "update",
    ("type", "PATCH"): "patch",
    ("type", "DELETE"): "delete",
    ("type-search", "POST"): "search-type",
    ("type-history", "GET"): "history-type",
    ("instance", "GET"): "read",
    ("instance", "PUT"): "update",
    ("instance", "PATCH"): "patch",
    ("instance", "DELETE"): "delete",
    ("instance-history", "GET"): "history-instance",
    ("version", "GET"): "vread",
}


def interaction_code(method: str, segments: list[str]) -> str:
    """The http://hl7.org/fhir/restful-interaction code of a request, for the audit trail."""
    if segments and segments[-1].startswith("$"):
        return "operation"
    return _RESTFUL_INTERACTION.get((Interactions._shape(segments), method), "operation")


_I = Interactions
_ROUTES: dict[tuple[str, str], Handler] = {
    ("system", "POST"): _I.bundle,
    ("metadata", "GET"): _I.metadata,
    ("system-history", "GET"): _I.history,
    ("type", "GET"): _I.search,
    ("type", "POST"): _I.create,
    ("type", "PUT"): _I.conditional_update,
    ("type", "PATCH"): _I.conditional_patch,
    ("type", "DELETE"): _I.conditional_delete,
    ("type-search", "POST"): _I.search,
    ("type-history", "GET"): _I.history,
    ("instance", "GET"): _I.read,
    ("instance", "PUT"): _I.update,
    ("instance", "PATCH"): _I.patch,
    ("instance", "DELETE"): _I.delete,
    ("instance-history", "GET"): _I.history,
    ("version", "GET"): _I.vread,
}
