"""``fhir-server copy-store SRC DST``: replay every version of a store into another, then verify.

Versions are copied in history order (oldest first) through the ordinary port
(:meth:`StoreTransaction.write`), in transactions of ``BATCH`` versions; the index entries
of current versions are copied as stored (not extracted again). The check at the end
streams both stores again and compares the number of versions, a SHA-256 over every
version (type, id, version, lastUpdated, method, exact JSON bytes, in order), current
counts per type and a SHA-256 over the index entries of the current versions.
"""

from __future__ import annotations

import hashlib
import sys
import time
from dataclasses import dataclass, field

from fhir_server.errors import Conflict
from fhir_server.fhir.search.query import HistoryQuery
from fhir_server.store.base import Store, StoredVersion
from fhir_server.store.factory import open_location

BATCH = 200


@dataclass
class Digest:
    versions: int = 0
    current: dict[str, int] = field(default_factory=dict)
    content: str = ""
    index: str = ""


@dataclass
class CopyReport:
    source: Digest
    target: Digest
    seconds: float

    @property
    def verified(self) -> bool:
        return self.source == self.target

    def summary(self) -> str:
        s, t = self.source, self.target
        lines = [
            f"versions copied: {t.versions} of {s.versions} in {self.seconds:.1f}s",
            f"current resources: {sum(t.current.values())} of {sum(s.current.values())}",
            f"content sha256: source {s.content} target {t.content}",
            f"index sha256:   source {s.index} target {t.index}",
            "verified: counts and hashes match" if self.verified else "MISMATCH: the copy differs from the source",
        ]
        return "\n".join(lines)


class Progress:
    """A plain progress bar on stderr (no dependency); silent when not wanted."""

    def __init__(self, total: int, label: str, enabled: bool):
        self.total, self.label, self.enabled = max(total, 1), label, enabled
        self.done, self._shown = 0, -1.0

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if self.enabled and (now - self._shown > 0.2 or self.done >= self.total):
            self._shown = now
            width = 30
            filled = int(width * min(self.done, self.total) / self.total)
            sys.stderr.write(f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done}/{self.total}")
            sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _version_line(v: StoredVersion) -> bytes:
    head = f"{v.type}\0{v.id}\0{v.version_id}\0{v.last_updated}\0{v.last_updated_us}\0{v.method}\0"
    return head.encode() + (b"D" if v.body is None else b"B" + v.body) + b"\n"


async def digest(store: Store, progress: Progress | None = None) -> Digest:
    result = Digest()
    content = hashlib.sha256()
    keys: dict[tuple[str, str], None] = {}
    async for v in store.all_versions():
        result.versions += 1
        content.update(_version_line(v))
        keys[(v.type, v.id)] = None
        if progress:
            progress.advance()
    index_hash = hashlib.sha256()
    for resource_type, resource_id in sorted(keys):
        current = await store.read(resource_type, resource_id)
        if current is None or current.deleted:
            continue
        result.current[resource_type] = result.current.get(resource_type, 0) + 1
        index = await store.index_entries(resource_type, resource_id)
        entries = sorted(repr(e) for name in index.__slots__ for e in getattr(index, name)) if index else []
        index_hash.update(f"{resource_type}/{resource_id}\0{chr(0).join(entries)}\n".encode())
    result.content, result.index = content.hexdigest(), index_hash.hexdigest()
    return result


async def copy_versions(source: Store, target: Store, progress: Progress | None = None) -> int:
    """Replay the source's history into the (empty) target; the number of versions copied."""
    existing = await target.history(HistoryQuery(count=1))
    if existing.total:
        raise Conflict(f"the target store is not empty ({existing.total} versions): copy into an empty store")
    batch: list[StoredVersion] = []
    copied = 0

    async def flush() -> None:
        async with target.transaction() as tx:
            for v in batch:
                current = await source.read(v.type, v.id)
                is_current = current is not None and current.version_id == v.version_id and not v.deleted
                await tx.write(v, await source.index_entries(v.type, v.id) if is_current else None)
        if progress:
            progress.advance(len(batch))
        batch.clear()

    async for version in source.all_versions():
        batch.append(version)
        copied += 1
        if len(batch) >= BATCH:
            await flush()
    if batch:
        await flush()
    return copied


async def copy_store(source_location: str, target_location: str, *, progress: bool = True) -> CopyReport:
    started = time.monotonic()
    source, target = open_location(source_location), open_location(target_location)
    try:
        total = (await source.history(HistoryQuery(count=1))).total or 0
        bar = Progress(total, "copy  ", progress)
        await copy_versions(source, target, bar)
        bar.close()
        check = Progress(2 * total, "verify", progress)
        source_digest = await digest(source, check)
        target_digest = await digest(target, check)
        check.close()
    finally:
        await source.close()
        await target.close()
    return CopyReport(source_digest, target_digest, time.monotonic() - started)
