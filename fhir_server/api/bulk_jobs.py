"""Bulk Data jobs on disk (https://hl7.org/fhir/uv/bulkdata/export.html#bulk-data-status-request):
one folder per job, ``<data dir>/bulk/<job>/``, so that every worker process answers its status
and serves its files, and a finished job outlives a restart.

A job folder holds ``job.json`` (kind, owner, request, transactionTime; written once at kick-off),
``progress.json`` (the running task's heartbeat and progress text), the NDJSON output files,
and at the end ``manifest.json`` (done) or ``failure.json`` (an OperationOutcome: failed).
Cancelling renames the folder away before removing it: the running task, wherever it runs,
finds its folder gone at its next step and stops. Jobs older than the retention are removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shutil
import time
import uuid
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson

from fhir_server.api.messages import FhirRequest
from fhir_server.background import cancel_and_wait
from fhir_server.errors import Issue, operation_outcome
from fhir_server.security.actor import Actor

log = logging.getLogger("fhir_server")

HEARTBEAT_STALE_SECONDS = 120.0
"""A running job whose task has not reported for this long died with its process (a restart)."""
MAX_LINES_PER_FILE = 10_000
"""Resources per output file: a type with more gets several files (the manifest lists them all)."""
_JOB_ID = re.compile(r"[0-9a-f]{32}")
JobKind = Literal["export", "import"]


class Cancelled(Exception):
    """The job's folder is gone: the job was cancelled (or removed as expired)."""


def owner_of(actor: Actor | None) -> dict[str, str | None] | None:
    """Who may poll, download and cancel a job: the same client acting for the same user."""
    return None if actor is None else {"client_id": actor.client_id, "who": actor.who}


def prefer(req: FhirRequest) -> set[str]:
    """The preferences of a Prefer header (RFC 7240), e.g. ``respond-async``, ``handling=lenient``."""
    return {p.strip().replace(" ", "") for p in re.split("[,;]", req.headers.get("prefer", "")) if p.strip()}


def _read_json(path: Path) -> Any:
    try:
        return orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return None


def _write_json(path: Path, data: Any) -> None:
    """Atomically (a reader in another process sees the old content or the new one, never half)."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        tmp.write_bytes(orjson.dumps(data))
        os.replace(tmp, path)
    except FileNotFoundError:
        raise Cancelled from None


@dataclass(frozen=True, slots=True)
class JobStatus:
    state: Literal["running", "done", "failed"]
    progress: str = ""
    manifest: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None


class NdjsonWriter:
    """The NDJSON output ``<stem>-<n>.ndjson`` of one job, split every MAX_LINES_PER_FILE lines;
    a file is created by its first line, so nothing empty is listed."""

    def __init__(self, job: Job, stem: str):
        self.job = job
        self.stem = stem
        self.files: list[tuple[str, int]] = []  # (file name, lines)
        self._handle: BinaryIO | None = None

    def write(self, lines: Iterable[bytes]) -> None:
        for line in lines:
            if self._handle is None or self.files[-1][1] >= MAX_LINES_PER_FILE:
                self._open(f"{self.stem}-{len(self.files) + 1}.ndjson")
            assert self._handle is not None
            self._handle.write(line.rstrip(b"\n") + b"\n")
            name, count = self.files[-1]
            self.files[-1] = (name, count + 1)

    def _open(self, name: str) -> None:
        self.close()
        try:
            self._handle = (self.job.folder / name).open("xb")
        except FileNotFoundError:
            raise Cancelled from None
        self.files.append((name, 0))

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None


class Job:
    def __init__(self, folder: Path, meta: dict[str, Any], base_url: str):
        self.folder = folder
        self.meta = meta
        self.base_url = base_url

    @property
    def id(self) -> str:
        return self.folder.name

    @property
    def kind(self) -> JobKind:
        return self.meta["kind"]

    @property
    def status_url(self) -> str:
        return f"{self.base_url}/$bulk-status/{self.id}"

    def url(self, name: str) -> str:
        return f"{self.base_url}/$bulk-output/{self.id}/{name}"

    @property
    def cancelled(self) -> bool:
        return not (self.folder / "job.json").exists()

    def heartbeat(self, progress: str) -> None:
        """The task is alive; ``progress`` becomes the X-Progress header of status answers."""
        _write_json(self.folder / "progress.json", {"at": time.time(), "text": progress})

    def writer(self, stem: str) -> NdjsonWriter:
        return NdjsonWriter(self, stem)

    def complete(self, manifest: dict[str, Any]) -> None:
        _write_json(self.folder / "manifest.json", manifest)

    def fail(self, issues: list[Issue]) -> None:
        _write_json(self.folder / "failure.json", operation_outcome(issues))

    def status(self) -> JobStatus:
        """Raises Cancelled when the job disappeared while being looked at."""
        manifest = _read_json(self.folder / "manifest.json")
        if manifest is not None:
            return JobStatus("done", manifest=manifest)
        failure = _read_json(self.folder / "failure.json")
        if failure is not None:
            return JobStatus("failed", outcome=failure)
        progress = _read_json(self.folder / "progress.json")
        if progress is None:
            raise Cancelled
        if time.time() - progress["at"] > HEARTBEAT_STALE_SECONDS:
            stopped = Issue(
                "incomplete", f"The {self.kind} stopped before it finished (the server restarted?); start it again"
            )
            return JobStatus("failed", outcome=operation_outcome([stopped]))
        return JobStatus("running", progress=progress["text"])

    def output(self, name: str) -> Path | None:
        """A file the finished job's manifest lists (output or error); None otherwise."""
        manifest = _read_json(self.folder / "manifest.json")
        if manifest is None:
            return None
        listed = {item["url"] for item in [*manifest["output"], *manifest["error"]]}
        return self.folder / name if self.url(name) in listed else None

    def discard(self) -> None:
        """Remove the folder: renamed away first, so a running task stops at its next step."""
        grave = self.folder.with_name(f".{self.id}.{uuid.uuid4().hex}.removed")
        try:
            os.rename(self.folder, grave)
        except FileNotFoundError:
            return
        shutil.rmtree(grave, ignore_errors=True)


class JobStore:
    def __init__(self, root: Path, base_url: str, retention_hours: float):
        self.root = root
        self.base_url = base_url
        self.retention_seconds = retention_hours * 3600
        self._tasks: set[asyncio.Task[None]] = set()

    def create(self, kind: JobKind, owner: dict[str, str | None] | None, request: str, transaction_time: str) -> Job:
        self.root.mkdir(parents=True, exist_ok=True)
        folder = self.root / uuid.uuid4().hex
        folder.mkdir()
        job = Job(folder, {}, self.base_url)
        job.heartbeat("accepted")
        job.meta = {
            "kind": kind,
            "owner": owner,
            "request": request,
            "transactionTime": transaction_time,
            "created": time.time(),
        }
        _write_json(folder / "job.json", job.meta)
        return job

    def find(self, job_id: str, owner: dict[str, str | None] | None) -> Job | None:
        """The job, if it exists, has not expired and belongs to ``owner``; others never learn it exists."""
        if not _JOB_ID.fullmatch(job_id):
            return None
        folder = self.root / job_id
        meta = _read_json(folder / "job.json") if folder.is_dir() else None
        if meta is None or meta["owner"] != owner:
            return None
        job = Job(folder, meta, self.base_url)
        if time.time() - meta["created"] > self.retention_seconds:
            job.discard()
            return None
        return job

    def expires(self, job: Job) -> float:
        return job.meta["created"] + self.retention_seconds

    def sweep(self) -> None:
        """Remove jobs older than the retention, and leftovers of removals that were interrupted."""
        if not self.root.is_dir():
            return
        now = time.time()
        for folder in self.root.iterdir():
            with contextlib.suppress(FileNotFoundError):  # another process removed it meanwhile
                meta = _read_json(folder / "job.json") if _JOB_ID.fullmatch(folder.name) else None
                created = meta["created"] if meta is not None else folder.stat().st_mtime
                if now - created <= self.retention_seconds:
                    continue
                if meta is not None:
                    Job(folder, meta, self.base_url).discard()
                else:
                    shutil.rmtree(folder, ignore_errors=True)

    def start(self, job: Job, work: Coroutine[Any, Any, dict[str, Any]]) -> None:
        """Run ``work`` (which returns the manifest) after the kick-off has answered. It runs in a
        copy of the kick-off's context, so the repository's write guard sees the caller."""
        task = asyncio.get_running_loop().create_task(self._run(job, work), name=f"bulk-{job.kind}-{job.id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        await cancel_and_wait(self._tasks)

    @staticmethod
    async def _run(job: Job, work: Coroutine[Any, Any, dict[str, Any]]) -> None:
        try:
            job.complete(await work)
        except Cancelled:
            pass  # the folder went away with whatever the task had written
        except asyncio.CancelledError:  # the server shuts down
            _quietly(job, Issue("incomplete", f"The server stopped during the {job.kind}; start it again"))
            raise
        except Exception:  # noqa: BLE001 - the job fails, the server goes on
            log.exception("bulk %s %s failed", job.kind, job.id)
            _quietly(job, Issue("exception", f"The {job.kind} failed; the details are in the server log"))


def _quietly(job: Job, issue: Issue) -> None:
    with contextlib.suppress(Cancelled):
        job.fail([issue])
