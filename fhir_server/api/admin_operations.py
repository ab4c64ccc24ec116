"""Administrative operations: ``$reindex`` starts and reports index rebuilds."""

from __future__ import annotations

from typing import Any

from fhir_server.api.messages import FhirResponse
from fhir_server.api.operations import Operation, OperationCall, OperationRegistry
from fhir_server.errors import BadRequest
from fhir_server.fhir.reindex import Reindexer, ReindexJob
from fhir_server.fhir.repository import format_instant

REINDEX = "https://fhir.mr.lu/OperationDefinition/reindex"


def _job(job: ReindexJob) -> dict[str, Any]:
    parts: list[dict[str, Any]] = [
        {"name": "id", "valueString": job.id},
        {"name": "status", "valueCode": job.status},
        {"name": "reason", "valueString": job.reason},
        {"name": "processed", "valueInteger": job.processed},
        {"name": "total", "valueInteger": job.total},
        {"name": "started", "valueInstant": format_instant(int(job.started * 1_000_000))},
    ]
    parts += [{"name": "type", "valueCode": t} for t in job.types]
    if job.finished is not None:
        parts.append({"name": "finished", "valueInstant": format_instant(int(job.finished * 1_000_000))})
    return {"name": "job", "part": parts}


def register_admin_operations(registry: OperationRegistry, reindexer: Reindexer, types: tuple[str, ...]) -> None:
    async def reindex(call: OperationCall) -> FhirResponse:
        """GET: the recent reindex jobs and their progress. POST: start one (all types, one type,
        or the types named by ``type`` parameters), or get the running job that covers them."""
        if call.request.method == "POST":
            wanted = tuple(call.parameters.all("type")) or ((call.resource_type,) if call.resource_type else types)
            unknown = [t for t in wanted if t not in types]
            if unknown:
                raise BadRequest(f"Cannot reindex unsupported types: {', '.join(map(str, unknown))}")
            jobs = [reindexer.request(wanted, "requested with $reindex")]
        else:
            jobs = reindexer.jobs
        return FhirResponse(200, {"resourceType": "Parameters", "parameter": [_job(j) for j in jobs]})

    registry.register(
        Operation(
            "reindex",
            REINDEX,
            reindex,
            types=types,
            system=True,
            type_level=True,
            documentation="GET lists index rebuilds and their progress; POST starts one, or answers with the "
            "running one that covers the types asked for",
        )
    )
