"""``$import`` of NDJSON, asynchronous like ``$export``.

There is no final standard: the Bulk Data Import draft (https://github.com/smart-on-fhir/bulk-import)
has the server fetch the ``input`` URLs listed in a Parameters body. This server fetches nothing
from elsewhere: the client sends the NDJSON itself,

    POST [base]/$import
    Content-Type: application/fhir+ndjson
    Prefer: respond-async

and gets 202 with a status URL that answers like an export's. The body (at most
FHIR_SERVER_MAX_BODY_BYTES: larger sets in several calls, or ``fhir-server load`` on the host)
is kept in the job folder and loaded in the background with ``fhir-server load``'s semantics
(:mod:`fhir_server.load`): PUT with each resource's own id (a resource without one gets a fixed
id derived from the job and line), the validation, profile enforcement and guards of any write,
and content equal to the stored one is not written again. Each batch of lines is one store
transaction; a refused line is reported and its batch redone without it, so no batch is ever
half-written. The manifest's ``output`` file holds one OperationOutcome per resource type with its
counts, its ``error`` file one OperationOutcome per refused line (``line N: …``).

Only system clients (and the server without authentication) may import, and their scopes must
allow creating (new ids) and updating (existing ones) each type.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from dataclasses import replace
from typing import Any

import orjson

from fhir_server.api.bulk_jobs import Cancelled, Job, JobStore, NdjsonWriter, owner_of, prefer
from fhir_server.api.messages import FhirRequest, FhirResponse
from fhir_server.errors import (
    BadRequest,
    FhirError,
    Forbidden,
    Issue,
    MethodNotAllowed,
    UnsupportedMediaType,
    operation_outcome,
)
from fhir_server.fhir.repository import Repository, format_instant
from fhir_server.load import same_content
from fhir_server.security.actor import Actor
from fhir_server.security.gate import current_access
from fhir_server.security.policy import IMMUTABLE
from fhir_server.store.base import StoreTransaction

NDJSON_MEDIA_TYPES = frozenset({"application/fhir+ndjson", "application/ndjson", "application/x-ndjson"})
BATCH = 100
"""Lines per store transaction."""
INPUT = "input.ndjson"


class _Refused(Exception):
    def __init__(self, line: int, error: FhirError):
        super().__init__(str(error))
        self.line = line
        self.error = error


def _line_outcome(line: int, error: FhirError) -> bytes:
    issues = [replace(issue, diagnostics=f"line {line}: {issue.diagnostics}") for issue in error.issues]
    return orjson.dumps(operation_outcome(issues))


class Importer:
    def __init__(self, repository: Repository, jobs: JobStore, supported_types: tuple[str, ...], token: bool):
        self.repository = repository
        self.jobs = jobs
        self.supported_types = frozenset(supported_types)
        self.requires_access_token = token

    async def kick_off(self, req: FhirRequest) -> FhirResponse:
        access = current_access()
        actor = access.actor
        if actor is not None and actor.kind != "system":
            access.denied = True
            raise Forbidden("$import is available to system clients only")
        if "respond-async" not in prefer(req):
            raise BadRequest("$import runs asynchronously: send the header 'Prefer: respond-async'")
        media = req.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in NDJSON_MEDIA_TYPES:
            raise UnsupportedMediaType(
                "$import takes the NDJSON itself (Content-Type: application/fhir+ndjson); "
                "this server does not fetch input URLs"
            )
        if not isinstance(req.body, bytes) or not req.body.strip():
            raise BadRequest("$import needs NDJSON in the body: one resource per line")
        self.jobs.sweep()
        now = format_instant(time.time_ns() // 1000)
        job = self.jobs.create("import", owner_of(actor), f"{self.jobs.base_url}/$import", now)
        (job.folder / INPUT).write_bytes(req.body)
        self.jobs.start(job, self._import(job, actor))
        started = Issue("informational", f"Import started: poll {job.status_url}", severity="information")
        return FhirResponse(202, operation_outcome([started]), headers={"Content-Location": job.status_url})

    # -- the background task ------------------------------------------------------------------

    async def _import(self, job: Job, actor: Actor | None) -> dict[str, Any]:
        written: Counter[str] = Counter()
        unchanged: Counter[str] = Counter()
        errors = job.writer("errors")
        pending: list[tuple[int, dict[str, Any]]] = []
        try:
            with (job.folder / INPUT).open("rb") as lines:
                for number, raw in enumerate(lines, 1):
                    if not raw.strip():
                        continue
                    try:
                        pending.append((number, self._parse(raw, number, job)))
                    except FhirError as exc:
                        errors.write([_line_outcome(number, exc)])
                    if len(pending) >= BATCH:
                        await self._commit(job, pending, actor, written, unchanged, errors)
                        pending = []
            await self._commit(job, pending, actor, written, unchanged, errors)
        finally:
            errors.close()
        (job.folder / INPUT).unlink(missing_ok=True)
        results = job.writer("results")
        results.write(
            orjson.dumps(
                operation_outcome(
                    [Issue("informational", f"{t}: {written[t]} written, {unchanged[t]} unchanged", "information")]
                )
            )
            for t in sorted(written | unchanged)
        )
        results.close()
        return {
            "transactionTime": job.meta["transactionTime"],
            "request": job.meta["request"],
            "requiresAccessToken": self.requires_access_token,
            "output": [{"type": "OperationOutcome", "url": job.url(n), "count": c} for n, c in results.files],
            "error": [{"type": "OperationOutcome", "url": job.url(n), "count": c} for n, c in errors.files],
        }

    def _parse(self, raw: bytes, number: int, job: Job) -> dict[str, Any]:
        try:
            resource = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise BadRequest(f"not JSON: {exc}") from None
        rtype = resource.get("resourceType") if isinstance(resource, dict) else None
        if not isinstance(rtype, str):
            raise BadRequest("not a FHIR resource: no resourceType")
        if rtype not in self.supported_types:
            raise BadRequest(f"resource type {rtype} is not supported by this server")
        if "id" not in resource:  # fixed, so that importing the same body again changes nothing
            resource = {**resource, "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{job.id}#{number}"))}
        if not isinstance(resource["id"], str):
            raise BadRequest(f"{rtype}.id must be a string")
        return resource

    async def _commit(
        self,
        job: Job,
        pending: list[tuple[int, dict[str, Any]]],
        actor: Actor | None,
        written: Counter[str],
        unchanged: Counter[str],
        errors: NdjsonWriter,
    ) -> None:
        """One transaction for the batch; a refused line is reported and the batch redone without it."""
        while pending:
            if job.cancelled:
                raise Cancelled
            changed: Counter[str] = Counter()
            same: Counter[str] = Counter()
            try:
                async with self.repository.transaction() as tx:
                    for number, resource in pending:
                        try:
                            counter = changed if await self._write(tx, resource, actor) else same
                        except FhirError as exc:
                            if exc.status >= 500:
                                raise
                            raise _Refused(number, exc) from exc
                        counter[resource["resourceType"]] += 1
            except _Refused as refused:
                errors.write([_line_outcome(refused.line, refused.error)])
                pending = [p for p in pending if p[0] != refused.line]
                continue
            written.update(changed)
            unchanged.update(same)
            job.heartbeat(f"{written.total()} resources written, {unchanged.total()} unchanged")
            return

    async def _write(self, tx: StoreTransaction, resource: dict[str, Any], actor: Actor | None) -> bool:
        """PUT with the resource's id; False when the stored content is the same (not written)."""
        rtype, rid = resource["resourceType"], resource["id"]
        previous = await tx.read(rtype, rid)
        exists = previous is not None and previous.body is not None
        letter = "u" if exists else "c"
        if actor is not None and not actor.may(rtype, letter):
            raise Forbidden(f"The access token's scopes do not allow '{letter}' on {rtype}")
        if previous is not None and previous.body is not None and same_content(previous.body, resource):
            return False
        if exists and rtype in IMMUTABLE:
            raise MethodNotAllowed(f"{rtype}/{rid} exists, and {rtype} resources are never changed")
        await self.repository.update(rtype, rid, resource, tx=tx)
        return True
