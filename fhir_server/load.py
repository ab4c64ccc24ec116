"""``fhir-server load FILES…``: bulk import of NDJSON and Bundle files into the configured store.

In-process through the app's ``Repository`` (validation, LU profile enforcement, guards,
versioning and index extraction exactly as over HTTP), ``--batch`` resources per store
transaction, PUT semantics with each resource's own id, references kept as written:

- a ``.ndjson`` file holds one resource per line; any other file is JSON: a Bundle of type
  transaction/batch/collection/searchset (its entries' resources are loaded; DELETE entries
  are skipped) or a single resource;
- a resource whose content equals the stored one (ignoring meta.versionId/lastUpdated) is not
  written again, so a re-run is idempotent (no new versions);
- after each committed batch a checkpoint (file, size, mtime, offset = lines or entries done)
  is written atomically; a re-run after an interruption skips what was committed; the
  checkpoint is removed once every file is loaded;
- a progress bar on stderr; resources per second at the end.

Exit status: 0 done, 1 a resource was refused (the batch holding it is rolled back; the
message names file and line/entry), 2 a file cannot be read, 3 stopped by ``--limit``
(for tests: fault injection) or Ctrl-C, resumable.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from fhir_server.config import Settings

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

    @property
    def per_second(self) -> float:
        return (self.written + self.unchanged) / self.seconds if self.seconds else 0.0

    def summary(self) -> str:
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.counts.items()))
        return (
            f"loaded {self.written + self.unchanged} resources ({self.written} written, {self.unchanged} unchanged, "
            f"{self.skipped} skipped as already committed) in {self.seconds:.1f} s = "
            f"{self.per_second:.0f} resources/s" + (f"\n  {kinds}" if kinds else "")
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


def read_units(path: Path, start: int, position: list[int] | None = None) -> Iterator[tuple[int, dict[str, Any]]]:
    """(offset after this unit, resource) from ``start`` on; offset = lines or entries.
    ``position[0]`` follows the bytes read (NDJSON), for the progress bar."""
    try:
        if path.suffix == ".ndjson":
            with path.open("rb") as f:
                for n, line in enumerate(f, 1):
                    if position is not None:
                        position[0] += len(line)
                    if n <= start or not line.strip():
                        continue
                    try:
                        yield n, orjson.loads(line)
                    except orjson.JSONDecodeError as exc:
                        raise LoadError(f"{path}:{n}: not JSON: {exc}", 2) from exc
            return
        data = orjson.loads(path.read_bytes())
    except OSError as exc:
        raise LoadError(f"{path}: cannot read: {exc}", 2) from exc
    except orjson.JSONDecodeError as exc:
        raise LoadError(f"{path}: not JSON: {exc}", 2) from exc
    if data.get("resourceType") == "Bundle" and data.get("type") in ("transaction", "batch", "collection", "searchset"):
        for n, entry in enumerate(data.get("entry") or [], 1):
            if n <= start:
                continue
            method = (entry.get("request") or {}).get("method", "PUT")
            if method == "DELETE" or "resource" not in entry:
                continue
            yield n, entry["resource"]
    elif start < 1:
        yield 1, data


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


async def load_files(
    settings: Settings,
    files: list[Path],
    *,
    batch: int = 500,
    checkpoint_path: Path | None = None,
    limit: int | None = None,
    quiet: bool = False,
) -> Report:
    from fhir_server.app import create_app

    app = create_app(settings)
    repository = app.state.repository
    checkpoint = Checkpoint(checkpoint_path or settings.data_dir / CHECKPOINT_NAME)
    report = Report()
    sizes = {p: p.stat().st_size for p in files}
    progress = Progress(sum(sizes.values()), quiet)
    done_bytes = 0

    async def commit(path: Path, pending: list[tuple[int, dict[str, Any]]]) -> None:
        written = unchanged = 0
        kinds: dict[str, int] = {}
        try:
            async with repository.transaction() as tx:
                for offset, resource in pending:
                    rtype = resource.get("resourceType")
                    rid = resource.get("id")
                    if not isinstance(rtype, str):
                        raise LoadError(f"{path}:{offset}: no resourceType")
                    if not rid:  # deterministic, so a re-run writes the same id
                        rid = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{path.name}#{offset}"))
                        resource = {**resource, "id": rid}
                    previous = await tx.read(rtype, rid)
                    if previous is not None and previous.body is not None and same_content(previous.body, resource):
                        unchanged += 1
                    else:
                        try:
                            await repository.update(rtype, rid, resource, tx=tx)
                        except LoadError:
                            raise
                        except Exception as exc:  # a FhirError (422 …): name the culprit
                            detail = getattr(exc, "issues", None)
                            text = "; ".join(getattr(i, "diagnostics", str(i)) for i in detail) if detail else str(exc)
                            raise LoadError(f"{path}:{offset}: {rtype}/{rid} refused: {text}") from exc
                        written += 1
                    kinds[rtype] = kinds.get(rtype, 0) + 1
        except LoadError:
            raise
        checkpoint.save(path, pending[-1][0])
        report.written += written
        report.unchanged += unchanged
        for k, v in kinds.items():
            report.counts[k] = report.counts.get(k, 0) + v
        pending.clear()

    async with app.router.lifespan_context(app):
        started = time.perf_counter()
        try:
            for path in files:
                start = checkpoint.offset(path)
                pending: list[tuple[int, dict[str, Any]]] = []
                position = [0]
                for offset, resource in read_units(path, start, position):
                    pending.append((offset, resource))
                    if len(pending) >= batch:
                        if limit is not None and report.written + report.unchanged + len(pending) > limit:
                            pending[:] = pending[: max(0, limit - report.written - report.unchanged)]
                            if pending:
                                await commit(path, pending)
                            raise Stopped
                        await commit(path, pending)
                        progress.show(done_bytes + position[0], report.written + report.unchanged)
                if pending:
                    if limit is not None and report.written + report.unchanged + len(pending) > limit:
                        pending[:] = pending[: max(0, limit - report.written - report.unchanged)]
                        if pending:
                            await commit(path, pending)
                        raise Stopped
                    await commit(path, pending)
                if start:
                    report.skipped += start
                done_bytes += sizes[path]
                progress.show(done_bytes, report.written + report.unchanged)
        finally:
            report.seconds = time.perf_counter() - started
            progress.show(done_bytes, report.written + report.unchanged, final=True)
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
                settings, files, batch=args.batch, checkpoint_path=checkpoint, limit=args.limit, quiet=args.quiet
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
