"""FHIR Bulk Data (https://hl7.org/fhir/uv/bulkdata/): ``$export`` is an operation of the registry
(:mod:`.bulk_export`); ``$import`` (:mod:`.bulk_import`) and the job URLs are routes of their own,
since their bodies and answers are NDJSON, which the FHIR catch-all does not speak:

- ``GET /$bulk-status/{job}``: 202 with ``X-Progress`` and ``Retry-After`` while the job runs, 200
  with the manifest (application/json) once it is done, 500 with an OperationOutcome if it failed;
- ``DELETE /$bulk-status/{job}``: 202; the job and its files are removed, later polls get 404;
- ``GET /$bulk-output/{job}/{file}``: a file the manifest lists (application/fhir+ndjson);
- ``POST /$import``.

They pass the HTTP edge's gate like every FHIR request (token, audit, errors as OperationOutcomes).
A job answers only the caller who started it (the same client for the same user); anyone else
gets 404, as for a job that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from email.utils import formatdate
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from fhir_server.api.bulk_export import Exporter, register_export, visible_lines
from fhir_server.api.bulk_import import Importer
from fhir_server.api.bulk_jobs import Job, JobStore, owner_of
from fhir_server.api.http import HttpAdapter, read_body
from fhir_server.api.messages import FhirRequest, FhirResponse
from fhir_server.api.operations import OperationRegistry
from fhir_server.config import Settings
from fhir_server.errors import Issue, MethodNotAllowed, NotFound, operation_outcome
from fhir_server.fhir.repository import Repository
from fhir_server.fhir.resource_types import SUPPORTED_TYPES
from fhir_server.security.gate import AccessGate, current_access

NDJSON = "application/fhir+ndjson"
RETRY_AFTER_SECONDS = 2
PATHS = ("/$import", "/$bulk-status/{job}", "/$bulk-output/{job}/{name}")
Handler = Callable[[Any, FhirRequest, Any], Awaitable[FhirResponse]]


class _JobAdapter(HttpAdapter):
    """The HTTP edge (gate, audit, errors) for the job URLs, with the body kept as bytes."""

    async def _fhir_request(self, request: Request, method: str, segments: list[str]) -> FhirRequest:
        body = await read_body(request, self.max_body_bytes) if method == "POST" else None
        return FhirRequest(method, segments, [], dict(request.headers), body)


class BulkData:
    def __init__(self, jobs: JobStore, importer: Importer, repository: Repository, max_body_bytes: int):
        self.jobs = jobs
        self.importer = importer
        self.repository = repository
        self.max_body_bytes = max_body_bytes

    async def stop(self) -> None:
        """At shutdown, before the store closes: running jobs stop (and say so to later polls)."""
        await self.jobs.stop()

    def routes(self, gate: AccessGate | None) -> list[BaseRoute]:
        """Starlette routes to add before the FHIR catch-all mount."""
        adapter = _JobAdapter(self, self.jobs.base_url, self.max_body_bytes, gate)  # type: ignore[arg-type]

        async def endpoint(request: Request) -> Response:
            return await adapter(request)

        methods = ["GET", "POST", "PUT", "PATCH", "DELETE"]  # others than the job's get an OperationOutcome
        return [Route(path, endpoint, methods=methods, include_in_schema=False) for path in PATHS]

    def route(self, method: str, segments: list[str]) -> Handler:
        """What :class:`HttpAdapter` asks its interactions: the handler of a method and path."""
        match segments:
            case ["$import"]:
                allowed = {"POST": self.importer.kick_off}
            case ["$bulk-status", _]:
                allowed = {"GET": self._status, "DELETE": self._cancel}
            case ["$bulk-output", _, _]:
                allowed = {"GET": self._download}
            case _:
                raise NotFound(f"No bulk data URL at '/{'/'.join(segments)}'")
        handler = allowed.get(method)
        if handler is None:
            raise MethodNotAllowed(f"{method} is not allowed here; use {' or '.join(allowed)}")

        async def run(_: Any, req: FhirRequest, __: Any) -> FhirResponse:
            return await handler(req)

        return run

    def _job(self, job_id: str) -> Job:
        job = self.jobs.find(job_id, owner_of(current_access().actor))
        if job is None:
            raise NotFound(f"No bulk data job '{job_id}' (unknown, expired, cancelled, or not yours)")
        return job

    async def _status(self, req: FhirRequest) -> FhirResponse:
        """https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-status-request"""
        job = self._job(req.segments[1])
        status = job.status()
        if status.state == "running":
            headers = {"X-Progress": status.progress, "Retry-After": str(RETRY_AFTER_SECONDS)}
            return FhirResponse(202, headers=headers)
        if status.state == "failed":
            return FhirResponse(500, status.outcome)
        expires = formatdate(self.jobs.expires(job), usegmt=True)
        return FhirResponse(200, status.manifest, headers={"Content-Type": "application/json", "Expires": expires})

    async def _cancel(self, req: FhirRequest) -> FhirResponse:
        """https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-delete-request"""
        job = self._job(req.segments[1])
        job.discard()
        cancelled = Issue("informational", f"Bulk data job {job.id} cancelled and its files removed", "information")
        return FhirResponse(202, operation_outcome([cancelled]))

    async def _download(self, req: FhirRequest) -> FhirResponse:
        """https://hl7.org/fhir/uv/bulkdata/export.html#file-request"""
        _, job_id, name = req.segments
        job = self._job(job_id)
        path = job.output(name)
        try:
            data = path.read_bytes() if path is not None else None
        except FileNotFoundError:  # cancelled meanwhile
            data = None
        if data is None:
            raise NotFound(f"Bulk data job {job_id} has no file '{name}'")
        if job.kind == "export" and not name.startswith("errors"):
            data = await visible_lines(data, current_access(), self.repository)
        return FhirResponse(200, data, headers={"Content-Type": NDJSON})


def register_bulk_data(operations: OperationRegistry, repository: Repository, settings: Settings) -> BulkData:
    """``$export`` into the registry; the rest is served by the returned object's routes."""
    jobs = JobStore(settings.data_dir / "bulk", settings.public_base(), settings.bulk_retention_hours)
    exporter = Exporter(repository, jobs, SUPPORTED_TYPES, settings.auth, settings.max_page_size)
    register_export(operations, exporter)
    return BulkData(
        jobs, Importer(repository, jobs, SUPPORTED_TYPES, settings.auth), repository, settings.max_body_bytes
    )
