"""``$export`` at system, Patient and Group level (FHIR Bulk Data Access IG v2,
https://hl7.org/fhir/uv/bulkdata/export.html): the kick-off checks the request and the caller
and answers 202 with the job's status URL; a background task then writes each type's resources
as NDJSON files into the job folder (:mod:`.bulk_jobs`).

A Group-level export is a Patient-level one narrowed to the Patient compartments of the Group's
active members (``Group.member.entity`` references to this server's Patients, ``inactive``
members left out), as the Group stands at kick-off. The router has already checked that the
caller may see the Group (404 otherwise, as for an unknown one); the members' records are then
restricted like every other export. A member added after ``_since`` brings only what changed
after ``_since`` (the IG's optional "whole record of a new member" is not done).

What the caller may see is taken at kick-off (their :class:`Visibility`) and carried by every
type's query (``restrict_query``, as a search does): a patient exports their own record, a
practitioner the records they may open minus what Consents hide, a system client what its
scopes allow. A type the caller may not read (scope ``r`` or ``s``, and their role) is not
exported: left out silently when ``_type`` is absent ("all resources within the scope of the
client authorization"), named by an OperationOutcome in the manifest's ``error`` file when
``_type`` asked for it. Downloads are filtered again by the downloader's current visibility
(:func:`visible_lines`), so a Consent changed after the kick-off applies to them too.

The export shows the resources as of ``transactionTime`` (the kick-off): a resource changed
later is left out, and a following export with ``_since=<transactionTime>`` brings it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlencode

import orjson

from fhir_server.api.bulk_jobs import Cancelled, Job, JobStore, owner_of, prefer
from fhir_server.api.messages import FhirResponse
from fhir_server.api.operations import Operation, OperationCall, OperationRegistry
from fhir_server.errors import BadRequest, Forbidden, Issue, operation_outcome
from fhir_server.fhir.dates import parse_date_range
from fhir_server.fhir.references import parse_reference
from fhir_server.fhir.repository import Repository, format_instant
from fhir_server.fhir.search.query import Clause, Criterion, InCompartment, SearchQuery, TokenValue
from fhir_server.fhir.search.restriction import restrict_query, visible
from fhir_server.security.actor import Actor
from fhir_server.security.compartment import PATIENT_COMPARTMENT
from fhir_server.security.context import AccessContext
from fhir_server.security.gate import current_access
from fhir_server.security.policy import may_read_type
from fhir_server.security.visibility import Visibility
from fhir_server.store.base import StoredVersion

SYSTEM_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
PATIENT_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/patient-export"
GROUP_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"
PATIENT_TYPES = ("Patient", *sorted(PATIENT_COMPARTMENT))
NDJSON_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
PARAMETERS = frozenset({"_type", "_since", "_outputFormat", "patient"})
HTTP_PARAMETERS = frozenset({"_format", "_pretty"})  # about the kick-off's own answer
CHECK_CHUNK = 500
"""Resources of a downloaded file checked against the downloader's visibility per store query."""


@dataclass(frozen=True, slots=True)
class ExportPlan:
    types: tuple[str, ...]  # exported, in this order
    since: str | None
    patients: tuple[str, ...] | None  # only these records (``patient``, a Group's members); None: all
    transaction_time: str
    skipped: tuple[Issue, ...]  # what was asked for and is not exported: the manifest's error file


def _values(call: OperationCall) -> list[tuple[str, Any]]:
    """The kick-off parameters: a Parameters body (POST) or the query string (GET)."""
    req = call.request
    if req.method == "POST" and req.body is not None:
        names = dict.fromkeys(call.parameters.names())
        return [(name, value) for name in names for value in call.parameters.all(name)]
    return [(k, v) for k, v in req.params if k not in HTTP_PARAMETERS]


def may_export(actor: Actor | None, resource_type: str) -> bool:
    """Read access to the type: a scope with ``r`` or ``s``, and a role that reads it."""
    if actor is None:
        return True
    scoped = actor.may(resource_type, "r") or actor.may(resource_type, "s")
    return scoped and may_read_type(actor.kind, resource_type)


def _patient_id(value: Any) -> str:
    """``Patient/x`` (a valueReference, or a string; absolute URLs too) → ``x``."""
    reference = value.get("reference") if isinstance(value, dict) else value
    parts = reference.rstrip("/").split("/") if isinstance(reference, str) else []
    if len(parts) >= 2 and parts[-2] == "Patient" and parts[-1]:
        return parts[-1]
    raise BadRequest(f"patient: {value!r} is not a reference to a Patient", expression="patient")


def group_members(group: dict[str, Any], base_url: str) -> tuple[str, ...]:
    """Ids of the Group's active members that are Patients of this server, in order, once each."""
    ids: list[str] = []
    for member in group.get("member") or []:
        reference = (member.get("entity") or {}).get("reference")
        if member.get("inactive") is True or not isinstance(reference, str):
            continue
        parsed = parse_reference(reference)
        if parsed is None or parsed.target_type != "Patient" or parsed.target_id is None:
            continue
        if parsed.url is None or parsed.url.startswith(f"{base_url}/"):  # another server's Patient is not ours
            ids.append(parsed.target_id)
    return tuple(dict.fromkeys(ids))


class Exporter:
    def __init__(
        self, repository: Repository, jobs: JobStore, supported_types: tuple[str, ...], token: bool, page_size: int
    ):
        self.repository = repository
        self.jobs = jobs
        self.supported_types = supported_types
        self.requires_access_token = token
        self.page_size = page_size  # resources per store query

    async def kick_off(self, call: OperationCall) -> FhirResponse:
        """https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-kick-off-request"""
        req = call.request
        preferences = prefer(req)
        if "respond-async" not in preferences:
            raise BadRequest("$export runs asynchronously: send the header 'Prefer: respond-async'")
        access = current_access()
        actor = access.actor
        if actor is not None and actor.break_glass is not None:
            access.denied = True
            raise Forbidden("Break-the-glass opens one record for reading, not for a bulk export")
        plan = self._plan(call, actor, lenient="handling=lenient" in preferences)
        if call.resource_type == "Group":
            group = await self.repository.read("Group", call.resource_id or "", call.tx)
            plan = replace(plan, patients=group_members(orjson.loads(group.body or b"{}"), self.jobs.base_url))
        visibility = await access.visibility()
        self.jobs.sweep()
        query = f"?{urlencode(req.params)}" if req.params else ""
        request = f"{self.jobs.base_url}/{'/'.join(req.segments)}{query}"
        job = self.jobs.create("export", owner_of(actor), request, plan.transaction_time)
        self.jobs.start(job, self._export(job, plan, visibility))
        started = Issue("informational", f"Export started: poll {job.status_url}", severity="information")
        return FhirResponse(202, operation_outcome([started]), headers={"Content-Location": job.status_url})

    def _plan(self, call: OperationCall, actor: Actor | None, *, lenient: bool) -> ExportPlan:
        skipped: list[Issue] = []

        def unsupported(text: str, expression: str) -> None:
            if not lenient:
                raise BadRequest(text, expression=expression)
            skipped.append(Issue("not-supported", f"{text}: ignored", severity="warning"))

        values = _values(call)
        for name, _ in values:
            if name not in PARAMETERS:
                unsupported(f"$export parameter '{name}' is not supported by this server", name)
        for value in (v for k, v in values if k == "_outputFormat"):
            if value not in NDJSON_FORMATS:
                raise BadRequest(f"_outputFormat '{value}': this server writes application/fhir+ndjson only")
        since = self._since([v for k, v in values if k == "_since"])
        patients = tuple(dict.fromkeys(_patient_id(v) for k, v in values if k == "patient"))
        if patients and call.resource_type != "Patient":
            unsupported("patient applies to a Patient-level export (Patient/$export)", "patient")
            patients = ()
        available = self.supported_types if call.resource_type is None else PATIENT_TYPES
        requested = [t.strip() for k, v in values if k == "_type" for t in str(v).split(",") if t.strip()]
        for rtype in dict.fromkeys(t for t in requested if t not in available):
            where = "supported by this server" if call.resource_type is None else "in the Patient compartment"
            unsupported(f"_type: {rtype} is not {where}", "_type")
        wanted = [t for t in available if t in requested] if requested else list(available)
        skipped += [
            Issue("forbidden", f"{t} not exported: the access token's scopes or your role do not allow reading it")
            for t in wanted
            if requested and not may_export(actor, t)
        ]
        return ExportPlan(
            tuple(t for t in wanted if may_export(actor, t)),
            since,
            patients or None,
            format_instant(time.time_ns() // 1000),
            tuple(skipped),
        )

    def _since(self, values: list[Any]) -> str | None:
        if len(values) > 1:
            raise BadRequest("_since may be given once", expression="_since")
        if not values:
            return None
        try:
            parse_date_range(str(values[0]), self.repository.parser.tz)
        except ValueError as exc:
            raise BadRequest(f"_since: {exc}", expression="_since") from None
        return str(values[0])

    # -- the background task ------------------------------------------------------------------

    async def _export(self, job: Job, plan: ExportPlan, visibility: Visibility) -> dict[str, Any]:
        output: list[dict[str, Any]] = []
        for index, rtype in enumerate(plan.types):
            files = await self._export_type(job, plan, rtype, visibility, f"{index}/{len(plan.types)} types done")
            output += [{"type": rtype, "url": job.url(name), "count": count} for name, count in files]
        errors = job.writer("errors")
        errors.write(orjson.dumps(operation_outcome([issue])) for issue in plan.skipped)
        errors.close()
        return {
            "transactionTime": plan.transaction_time,
            "request": job.meta["request"],
            "requiresAccessToken": self.requires_access_token,
            "output": output,
            "error": [{"type": "OperationOutcome", "url": job.url(name), "count": n} for name, n in errors.files],
        }

    async def _export_type(
        self, job: Job, plan: ExportPlan, rtype: str, visibility: Visibility, done: str
    ) -> list[tuple[str, int]]:
        """Every matching resource of the type, page by page with the store's keyset cursor."""
        query = await restrict_query(
            SearchQuery(rtype, self._criteria(plan, rtype), self.page_size, with_total=False), visibility
        )
        writer = job.writer(rtype)
        exported = 0
        cursor: str | None = None
        try:
            while True:
                if job.cancelled:
                    raise Cancelled
                page = await self.repository.store.search(replace(query, cursor=cursor))
                writer.write(v.body for v in page.items if v.body is not None)
                exported += len(page.items)
                job.heartbeat(f"{done}; {rtype}: {exported} resources")
                cursor = page.next_cursor
                if cursor is None:
                    return writer.files
        finally:
            writer.close()

    def _criteria(self, plan: ExportPlan, rtype: str) -> tuple[Criterion, ...]:
        times = [("_lastUpdated", f"le{plan.transaction_time}")]
        if plan.since is not None:
            times.append(("_lastUpdated", f"gt{plan.since}"))
        criteria = self.repository.parser.parse(rtype, times).query.criteria
        if plan.patients is None:
            return criteria
        if rtype == "Patient" or not plan.patients:  # no patient: ``_id`` in nothing
            ids = tuple(TokenValue(p, None, False) for p in plan.patients)
            return (*criteria, Clause("_id", "id", None, ids))
        return (*criteria, InCompartment("Patient", PATIENT_COMPARTMENT[rtype], plan.patients))


async def visible_lines(data: bytes, access: AccessContext, repository: Repository) -> bytes:
    """The lines of an exported file the downloader may see now (their current Consents apply),
    noted for the audit like the resources of a search page."""
    if access.actor is None:
        return data
    versions = []
    for line in data.splitlines():
        resource = orjson.loads(line)
        version_id = int((resource.get("meta") or {}).get("versionId") or 0)
        # only type, id, version and body matter to the checks below
        versions.append(StoredVersion(resource["resourceType"], resource["id"], version_id, "", 0, "PUT", line))
    visibility = await access.visibility()
    if not visibility.unrestricted:
        kept: list[StoredVersion] = []
        for start in range(0, len(versions), CHECK_CHUNK):
            kept += await visible(repository.store, versions[start : start + CHECK_CHUNK], visibility)
        versions = kept
    access.seen(versions)
    return b"".join(v.body + b"\n" for v in versions if v.body is not None)


def register_export(operations: OperationRegistry, exporter: Exporter) -> None:
    operations.register(
        Operation(
            "export",
            SYSTEM_EXPORT,
            exporter.kick_off,
            system=True,
            documentation="Bulk Data export of everything the caller may read (async; _type, _since, _outputFormat)",
        )
    )
    operations.register(
        Operation(
            "export",
            PATIENT_EXPORT,
            exporter.kick_off,
            types=("Patient",),
            type_level=True,
            documentation="Bulk Data export of the Patient compartments the caller may read (async; _type, "
            "_since, _outputFormat, patient)",
        )
    )
    operations.register(
        Operation(
            "export",
            GROUP_EXPORT,
            exporter.kick_off,
            types=("Group",),
            instance=True,
            documentation="Bulk Data export of the Patient compartments of the Group's active members that the "
            "caller may read (async; _type, _since, _outputFormat)",
        )
    )
