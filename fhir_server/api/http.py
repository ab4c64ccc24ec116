"""The HTTP edge: one catch-all route turns a Starlette request into a FhirRequest and the
FhirResponse back into bytes and headers (https://hl7.org/fhir/R4/http.html).

Errors never escape as stack traces: a FhirError becomes its OperationOutcome, anything
else a 500 OperationOutcome while the traceback goes to the server log.
"""

from __future__ import annotations

import logging
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.api.interactions import Interactions, interaction_code
from fhir_server.api.messages import FhirRequest, FhirResponse
from fhir_server.api.negotiation import FHIR_JSON, check_acceptable, parse_body
from fhir_server.api.subsetting import check_summary, subset
from fhir_server.errors import FhirError, Issue, PayloadTooLarge, operation_outcome
from fhir_server.fhir.text import ascii_digits
from fhir_server.security.context import AccessContext
from fhir_server.security.gate import AccessGate, enter, leave
from fhir_server.store.conflicts import retrying

log = logging.getLogger("fhir_server")
CONTENT_TYPE = f"{FHIR_JSON}; charset=utf-8"
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
_FORM = "application/x-www-form-urlencoded"


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refusing with 413 as soon as it passes ``limit`` bytes."""
    declared = request.headers.get("content-length")
    if declared and ascii_digits(declared) and int(declared) > limit:
        raise PayloadTooLarge(f"The body ({declared} bytes) is larger than the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"The body is larger than the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def error_response(status: int, issues: list[Issue], headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(operation_outcome(issues)), status, headers=headers, media_type=CONTENT_TYPE)


class HttpAdapter:
    def __init__(self, interactions: Interactions, base_url: str, max_body_bytes: int, gate: AccessGate | None = None):
        self.interactions = interactions
        self.base_url = base_url
        self.max_body_bytes = max_body_bytes
        self.gate = gate  # None: authentication off (local development)

    async def asgi(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        """The adapter as an ASGI app (mounted at the root of the FastAPI app)."""
        response = await self(Request(scope, receive))
        await response(scope, receive, send)

    async def __call__(self, request: Request) -> Response:
        response = await self._respond(request)
        if request.method == "HEAD":  # GET's status and headers, never a body
            return Response(None, response.status_code, headers={**response.headers, "content-length": "0"})
        return response

    async def _respond(self, request: Request) -> Response:
        segments = [s for s in request.url.path.split("/") if s]
        method = "GET" if request.method == "HEAD" else request.method
        if self.gate is None or segments == ["metadata"]:
            return await self._dispatch(request, method, segments)
        context: AccessContext | None = None
        token = None
        try:
            context = self.gate.open(request.headers)
            token = enter(context)
            response = await self._dispatch(request, method, segments)
        except FhirError as exc:  # 401, or a malformed break-the-glass request
            response = error_response(exc.status, exc.issues, exc.headers)
        finally:
            if token is not None:
                leave(token)
        client = request.client.host if request.client else None
        interaction = interaction_code(method, segments)
        try:
            await self.gate.audit(
                context, interaction, response.status_code, segments, request.url.query, request.headers, client
            )
        except FhirError as exc:  # an access that cannot be recorded is not answered
            return error_response(exc.status, exc.issues, exc.headers)
        return response

    async def _dispatch(self, request: Request, method: str, segments: list[str]) -> Response:
        try:
            handler = self.interactions.route(method, segments)
            req = await self._fhir_request(request, method, segments)
            return self._render(req, await retrying(lambda: handler(self.interactions, req, None)))
        except FhirError as exc:
            return error_response(exc.status, exc.issues, exc.headers)
        except RecursionError:  # a body nested deeper than any code path expects
            return error_response(400, [Issue("structure", "The request is nested too deeply")])
        except Exception:  # noqa: BLE001 - the last line of defence: log, never leak
            log.exception("Unhandled error on %s %s", request.method, request.url.path)
            return error_response(500, [Issue("exception", "Internal server error; the details are in the server log")])

    async def _fhir_request(self, request: Request, method: str, segments: list[str]) -> FhirRequest:
        params = request.query_params.multi_items()
        check_acceptable(request.query_params.get("_format"), request.headers.get("accept"))
        check_summary(request.query_params.get("_summary"))
        headers = request.headers
        body: Any = None
        if method in _BODY_METHODS:
            raw = await read_body(request, self.max_body_bytes)
            content_type = headers.get("content-type", "")
            if method == "POST" and segments[-1:] == ["_search"]:
                if raw and content_type.split(";")[0].strip().lower() == _FORM:
                    params = params + parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)
            else:
                body = parse_body(content_type, raw, patch=method == "PATCH")
        return FhirRequest(method, segments, params, {k: v for k, v in headers.items()}, body)

    def _render(self, req: FhirRequest, response: FhirResponse) -> Response:
        headers = dict(response.headers)
        version = response.version
        if version is not None:
            headers["ETag"] = f'W/"{version.version_id}"'
            headers["Last-Modified"] = formatdate(version.last_updated_us / 1_000_000, usegmt=True)
            if response.location:
                headers["Location"] = f"{self.base_url}/{version.type}/{version.id}/_history/{version.version_id}"
        if response.status == 304 or response.resource is None:
            return Response(None, response.status, headers=headers)
        # Prefer return= concerns the written resource; a batch applies it to its entries instead
        prefer = req.headers.get("prefer", "").replace(" ", "") if version is not None else ""
        if req.method in _BODY_METHODS and "return=minimal" in prefer:
            return Response(None, response.status, headers=headers)
        body: Any = response.resource
        if req.method in _BODY_METHODS and "return=OperationOutcome" in prefer:
            body = operation_outcome([Issue("informational", f"{req.method} succeeded", severity="information")])
        pretty = req.param("_pretty") == "true"
        summary, elements = req.param("_summary"), req.param("_elements")
        if isinstance(body, bytes) and not pretty and not summary and not elements:
            return Response(body, response.status, headers=headers, media_type=CONTENT_TYPE)
        if isinstance(body, bytes):
            body = orjson.loads(body)
        if version is not None and req.method == "GET":  # read/vread; Bundles subset their entries
            body = subset(body, summary, elements)
        option = orjson.OPT_INDENT_2 if pretty else 0
        return Response(orjson.dumps(body, option=option), response.status, headers=headers, media_type=CONTENT_TYPE)
