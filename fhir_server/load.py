"""``fhir-server load FILES…``: bulk import of NDJSON and Bundle files into the configured store.

Through the app's ``Repository`` (validation, LU profile enforcement, guards, versioning and
index extraction as over HTTP), ``--batch`` resources per store transaction, PUT semantics
with each resource's own id, references kept as written. Validation, most of the work and
independent of the store, runs in ``--workers`` processes (:mod:`fhir_server.load_validation`)
a few batches ahead of the main process, which writes the batches in file order:

- a ``.ndjson`` file holds one resource per line; any other file is JSON: a Bundle of type
  transaction/batch/collection/searchset (its entries' resources are loaded; DELETE entries
  are skipped) or a single resource;
- a resource whose content equals the stored one (ignoring meta.versionId/lastUpdated) is not
  written again, so a re-run is idempotent (no new versions);
- after each committed batch a checkpoint (file, size, mtime, offset = lines or entries done)
  is written atomically; a re-run after an interruption skips what was committed; the
  checkpoint is removed once every file is loaded;
- a progress bar on stderr; resources per second at the end.

Exit status: 0 done, 1 a resource was refused (nothing of the batch holding it is written,
the batches before it are; the message names file and line/entry of each refused resource
of that batch with its issues), 2 a file cannot be read, 3 stopped by ``--limit`` (for
tests: fault injection), Ctrl-C or SIGTERM (after the batch being written), resumable.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing
import os
import resource
import signal
import sys
import time
import uuid
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhir_server.config import Settings
from fhir_server.fhir.profile_enforcement import ProfileEnforcement
from fhir_server.load_validation import LoadChecker, check_in_worker, start_worker

CHECKPOINT_NAME = "load-checkpoint.json"


class LoadError(Exception):
    def __init__(self, message: str, status: int = 1):
        super().__init__(message)
        self.status = status


class Stopped(Exception):
    """--limit reached (or interrupted): the checkpoint says where to resume."""


@dataclass
class Report:
    written: int = 0
    unchanged: int = 0
    skipped: int = 0  # already committed by an earlier, interrupted run
    seconds: float = 0.0
    counts: dict[str, int] = field(default_factory=dict)
    cpu_main: float = 0.0  # CPU seconds (user + system) of this process over the load
    cpu_workers: float = 0.0  # of the validation workers, start-up included
    workers: int = 0

    @property
    def per_second(self) -> float:
        return (self.written + self.unchanged) / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        cpu = (
            f"CPU: {self.cpu_main:.1f} s in this process, "
            f"{self.cpu_workers:.1f} s in {self.workers} validation worker processes"
        )
        return (
            f"loaded {self.written + self.unchanged} resources ({self.written} written, {self.unchanged} unchanged, "
            f"{self.skipped} skipped as already committed) in {self.seconds:.1f} s = "
            f"{self.per_second:.0f} resources/s" + (f"\n  {kinds}" if kinds else "") + f"\n  {cpu}"
        )


class Checkpoint:
    def __init__(self, path: Path):
        self.path = path
        self.files: dict[str, dict[str, Any]] = {}
        if path.exists():
            try:
                self.files = json.loads(path.read_text(encoding="utf-8")).get("files", {})
            except ValueError:
                self.files = {}

    @staticmethod
    def stamp(path: Path) -> dict[str, int]:
        st = path.stat()
        return {"size": st.st_size, "mtime_ns": st.st_mtime_ns}

    def offset(self, path: Path) -> int:
        entry = self.files.get(str(path))
        if entry is None:
            return 0
        if {k: entry.get(k) for k in ("size", "mtime_ns")} != self.stamp(path):
            print(f"load: {path} changed since the checkpoint, loading it from the start", file=sys.stderr)
            return 0
        return int(entry["offset"])

    def save(self, path: Path, offset: int) -> None:
        self.files[str(path)] = {**self.stamp(path), "offset": offset}
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"files": self.files}, indent=1), encoding="utf-8")
        os.replace(tmp, self.path)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


@dataclass(frozen=True, slots=True)
class Unit:
    """One resource of a file: ``offset`` = lines or entries up to and including it."""

    offset: int
    resource: dict[str, Any]
    raw: bytes  # its JSON, for the validation workers


def read_units(path: Path, start: int, position: list[int] | None = None) -> Iterator[Unit]:
    """The resources of a file from ``start`` on. ``position[0]`` follows the bytes read
    (NDJSON), for the progress bar. A resource without an id gets one derived from the file
    name and offset, so a re-run writes the same id."""
    try:
        if path.suffix == ".ndjson":
            with path.open("rb") as f:
                for n, line in enumerate(f, 1):
                    if position is not None:
                        position[0] += len(line)
                    if n <= start or not line.strip():
                        continue
                    try:
                        yield _unit(path, n, orjson.loads(line), line)
                    except orjson.JSONDecodeError as exc:
                        raise LoadError(f"{path}:{n}: not JSON: {exc}", 2) from exc
            return
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise LoadError(f"{path}: cannot read: {exc}", 2) from exc
    except orjson.JSONDecodeError as exc:
        raise LoadError(f"{path}: not JSON: {exc}", 2) from exc
    if isinstance(data, dict) and data.get("resourceType") == "Bundle" and data.get("type") in BUNDLE_TYPES:
        for n, entry in enumerate(data.get("entry") or [], 1):
            if n <= start or not isinstance(entry, dict):
                continue
            method = (entry.get("request") or {}).get("method", "PUT")
            if method == "DELETE" or "resource" not in entry:
                continue
            yield _unit(path, n, entry["resource"], None)
    elif start < 1:
        yield _unit(path, 1, data, None)


BUNDLE_TYPES = ("transaction", "batch", "collection", "searchset")


def _unit(path: Path, offset: int, resource: Any, raw: bytes | None) -> Unit:
    if not isinstance(resource, dict):
        raise LoadError(f"{path}:{offset}: not a resource (a JSON object)")
    if not resource.get("id"):
        resource = {**resource, "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{path.name}#{offset}"))}
        raw = None
    return Unit(offset, resource, raw if raw is not None else orjson.dumps(resource))


def same_content(stored: bytes, resource: dict[str, Any]) -> bool:
    old = orjson.loads(stored)

    def strip(r: dict[str, Any]) -> dict[str, Any]:
        meta = {k: v for k, v in (r.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
        body = {k: v for k, v in r.items() if k != "meta"}
        if meta:
            body["meta"] = meta
        return body

    return strip(old) == strip(resource)


class Progress:
    def __init__(self, total_bytes: int, quiet: bool):
        self.total, self.quiet = max(1, total_bytes), quiet
        self.started = time.perf_counter()
        self.last = 0.0
        self.tty = sys.stderr.isatty()

    def show(self, done_bytes: int, resources: int, final: bool = False) -> None:
        now = time.perf_counter()
        if self.quiet or (not final and now - self.last < (0.5 if self.tty else 5.0)):
            return
        self.last = now
        frac = min(1.0, done_bytes / self.total)
        rate = resources / (now - self.started) if now > self.started else 0.0
        bar = "#" * int(frac * 30)
        eta = (now - self.started) * (1 - frac) / frac if frac > 0 else 0
        line = f"[{bar:<30}] {frac * 100:5.1f}%  {resources:>9} resources  {rate:7.0f}/s  ETA {eta:5.0f} s"
        print(("\r" if self.tty else "") + line, end="\n" if final or not self.tty else "", file=sys.stderr, flush=True)


@dataclass
class Chunk:
    """The resources of one store transaction, all from one file."""

    path: Path
    units: list[Unit]
    done_bytes: int  # of all files, once it is written (progress bar)


class Batches:
    """The chunks still to load, from each file's checkpoint on; stops after ``limit`` resources."""

    def __init__(self, files: list[Path], checkpoint: Checkpoint, batch: int, limit: int | None):
        self.files, self.checkpoint, self.batch, self.limit = files, checkpoint, max(1, batch), limit
        self.stopped = False  # the limit was reached before the end
        self.skipped = 0

    def __iter__(self) -> Iterator[Chunk]:
        done_bytes = 0
        count = 0
        for path in self.files:
            start = self.checkpoint.offset(path)
            self.skipped += start
            position = [0]
            units: list[Unit] = []
            for unit in read_units(path, start, position):
                if self.limit is not None and count >= self.limit:
                    self.stopped = True
                    break
                count += 1
                units.append(unit)
                if len(units) >= self.batch:
                    yield Chunk(path, units, done_bytes + position[0])
                    units = []
            done_bytes += path.stat().st_size
            if units:
                yield Chunk(path, units, done_bytes)
            if self.stopped:
                return


class Validation:
    """Validation of chunks in ``workers`` processes (0: in this one), ahead of the writes."""

    def __init__(self, settings: Settings, workers: int):
        self.workers = workers
        self.checker: LoadChecker | None = None
        self.pool: ProcessPoolExecutor | None = None
        if workers > 0:
            self.pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),  # not fork: the parent has threads and a store open
                initializer=start_worker,
                initargs=(settings.profiles_dir, settings.terminology_dir),
            )
        else:
            self.checker = LoadChecker.load(settings.profiles_dir, settings.terminology_dir)

    @property
    def depth(self) -> int:
        """Chunks validated ahead of the one being written: one queued per worker, one running."""
        return 2 * self.workers

    def submit(self, chunk: Chunk) -> asyncio.Future[list[str | None]]:
        raws = [u.raw for u in chunk.units]
        if self.pool is not None:
            return asyncio.get_running_loop().run_in_executor(self.pool, check_in_worker, raws)
        assert self.checker is not None
        future: asyncio.Future[list[str | None]] = asyncio.get_running_loop().create_future()
        future.set_result(self.checker.messages(raws))
        return future

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)


MAX_REPORTED = 20
"""Refused resources named in the error message of a chunk."""


class Writer:
    """Writes validated chunks, each in one store transaction, then checkpoints it."""

    def __init__(self, repository: Any, checkpoint: Checkpoint, report: Report):
        self.repository = repository
        self.checkpoint = checkpoint
        self.report = report
        # the checks the validation workers ran; guards and any other hook run here
        self.checked = tuple(h for h in repository.hooks if isinstance(h, ProfileEnforcement))

    async def write(self, chunk: Chunk, messages: list[str | None]) -> None:
        refused = [(u, m) for u, m in zip(chunk.units, messages, strict=True) if m is not None]
        if refused:
            lines = [f"{chunk.path}:{u.offset}: {_name(u.resource)} refused: {m}" for u, m in refused[:MAX_REPORTED]]
            if len(refused) > MAX_REPORTED:
                lines.append(f"… and {len(refused) - MAX_REPORTED} more refused resources in the same batch")
            raise LoadError("\n".join(lines))
        written = unchanged = 0
        kinds: dict[str, int] = {}
        async with self.repository.transaction() as tx:
            for unit in chunk.units:
                rtype, rid = unit.resource["resourceType"], unit.resource["id"]
                previous = await tx.read(rtype, rid)
                if previous is not None and previous.body is not None and same_content(previous.body, unit.resource):
                    unchanged += 1
                else:
                    try:
                        await self.repository.update(rtype, rid, unit.resource, tx=tx, checked=self.checked)
                    except Exception as exc:  # a guard's FhirError (403, 422 …): name the culprit
                        detail = getattr(exc, "issues", None)
                        text = "; ".join(getattr(i, "diagnostics", str(i)) for i in detail) if detail else str(exc)
                        raise LoadError(f"{chunk.path}:{unit.offset}: {rtype}/{rid} refused: {text}") from exc
                    written += 1
                kinds[rtype] = kinds.get(rtype, 0) + 1
        self.checkpoint.save(chunk.path, chunk.units[-1].offset)
        self.report.written += written
        self.report.unchanged += unchanged
        for k, v in kinds.items():
            self.report.counts[k] = self.report.counts.get(k, 0) + v


def _name(resource: dict[str, Any]) -> str:
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def default_workers() -> int:
    """One validation process per core: validation is most of the work, the writes are serial."""
    return os.cpu_count() or 1


async def load_files(
    settings: Settings,
    files: list[Path],
    *,
    batch: int = 500,
    checkpoint_path: Path | None = None,
    limit: int | None = None,
    quiet: bool = False,
    workers: int | None = None,
) -> Report:
    from fhir_server.app import create_app

    app = create_app(settings)
    checkpoint = Checkpoint(checkpoint_path or settings.data_dir / CHECKPOINT_NAME)
    report = Report()
    progress = Progress(sum(p.stat().st_size for p in files), quiet)
    batches = Batches(files, checkpoint, batch, limit)
    writer = Writer(app.state.repository, checkpoint, report)
    validation = Validation(settings, default_workers() if workers is None else workers)
    done_bytes = 0
    in_flight: deque[tuple[Chunk, asyncio.Future[list[str | None]]]] = deque()
    loop = asyncio.get_running_loop()
    interrupted = False

    def interrupt() -> None:
        """Ctrl-C or SIGTERM: stop before the next batch (a task cancellation would not do: the
        store finishes a COMMIT through it). A second signal stops at once."""
        nonlocal interrupted
        interrupted = True
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)

    async def write_next() -> None:
        nonlocal done_bytes
        if interrupted:
            raise Stopped
        chunk, future = in_flight.popleft()
        await writer.write(chunk, await future)
        done_bytes = chunk.done_bytes
        progress.show(done_bytes, report.written + report.unchanged)

    try:
        for sig in STOP_SIGNALS:
            loop.add_signal_handler(sig, interrupt)
        async with app.router.lifespan_context(app):
            started = time.perf_counter()
            cpu_started = _cpu(resource.RUSAGE_SELF)
            try:
                try:
                    for chunk in batches:
                        in_flight.append((chunk, validation.submit(chunk)))
                        while len(in_flight) > validation.depth:
                            await write_next()
                except LoadError:  # an unreadable file or line: what came before it is kept
                    while in_flight:
                        await write_next()
                    raise
                while in_flight:
                    await write_next()
            finally:
                report.seconds = time.perf_counter() - started
                report.cpu_main = _cpu(resource.RUSAGE_SELF) - cpu_started
                report.skipped = batches.skipped
                progress.show(done_bytes, report.written + report.unchanged, final=True)
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
        for _, future in in_flight:
            future.cancel()
        validation.close()  # the workers have exited: their CPU time is ours to read
        report.cpu_workers, report.workers = _cpu(resource.RUSAGE_CHILDREN), validation.workers
    if batches.stopped:
        raise Stopped
    checkpoint.remove()
    return report


def run(args: Any) -> int:
    overrides = {k: getattr(args, k) for k in ("data_dir", "store") if getattr(args, k, None) is not None}
    settings = Settings(**overrides, log_requests=False)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    files: list[Path] = []
    for name in args.files:
        p = Path(name).resolve()
        if p.is_dir():
            files += sorted(q for q in p.iterdir() if q.suffix in (".ndjson", ".json"))
        elif p.is_file():
            files.append(p)
        else:
            print(f"load: {name}: no such file", file=sys.stderr)
            return 2
    checkpoint = Path(args.checkpoint).resolve() if args.checkpoint else None
    try:
        report = asyncio.run(
            load_files(
                settings,
                files,
                batch=args.batch,
                checkpoint_path=checkpoint,
                limit=args.limit,
                quiet=args.quiet,
                workers=getattr(args, "workers", None),
            )
        )
    except LoadError as exc:
        print(f"load: {exc}\nload: the committed batches are kept; rerun to resume after fixing", file=sys.stderr)
        return exc.status
    except (Stopped, KeyboardInterrupt):
        print("load: stopped; rerun the same command to resume from the checkpoint", file=sys.stderr)
        return 3
    print(report.summary())
    return 0
