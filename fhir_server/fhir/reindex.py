"""Recompute index entries in the background, reporting progress.

Needed when the search parameters change (a SearchParameter resource is added, changed
or removed): existing resources become searchable by the new parameter. Work goes in
small transactions so the server keeps answering meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

import orjson

from fhir_server.fhir.index_model import ResourceIndex
from fhir_server.fhir.indexing import IndexExtractor
from fhir_server.store.base import Store

log = logging.getLogger(__name__)
BATCH = 100  # resources per transaction: short pauses for the requests served meanwhile


@dataclass
class ReindexJob:
    types: tuple[str, ...]
    reason: str
    id: str = field(default_factory=lambda: str(uuid.uuid4()))
    total: int = 0
    processed: int = 0
    status: str = "queued"  # queued, running, completed, failed, cancelled
    started: float = field(default_factory=time.time)
    finished: float | None = None


class Reindexer:
    def __init__(self, store: Store, extractor: IndexExtractor, keep: int = 20):
        self._store = store
        self._extractor = extractor
        self._keep = keep
        self.jobs: list[ReindexJob] = []
        self._tasks: set[asyncio.Task[None]] = set()

    def request(self, types: tuple[str, ...], reason: str) -> ReindexJob:
        """What ``POST $reindex`` gets: a queued or running job that already covers these types
        (as HAPI, no second full reindex runs alongside the first), else a new one."""
        for job in reversed(self.jobs):
            if job.status in ("queued", "running") and set(types) <= set(job.types):
                return job
        return self.start(types, reason)

    def start(self, types: tuple[str, ...], reason: str) -> ReindexJob:
        """A new job, whatever runs: a changed SearchParameter needs a pass after its change."""
        job = ReindexJob(types, reason)
        self.jobs = [*self.jobs[-(self._keep - 1) :], job]
        task = asyncio.get_running_loop().create_task(self.run(job))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return job

    async def run(self, job: ReindexJob) -> None:
        job.status = "running"
        try:
            job.total = sum([await self._store.count(t) for t in job.types])
            for resource_type in job.types:
                after: str | None = None
                while True:
                    async with self._store.transaction() as tx:
                        done, after = await tx.reindex(resource_type, after, BATCH, self._extract)
                    job.processed += done
                    await asyncio.sleep(0)  # let requests in between batches
                    if after is None:
                        break
            job.status = "completed"
        except asyncio.CancelledError:
            job.status = "cancelled"
            log.warning(
                "reindex %s cancelled at %d/%d: run POST /$reindex to finish it", job.id, job.processed, job.total
            )
            raise
        except Exception:
            job.status = "failed"
            log.exception("reindex %s failed", job.id)
        finally:
            job.finished = time.time()

    def _extract(self, body: bytes) -> ResourceIndex:
        return self._extractor.extract(orjson.loads(body))

    async def wait(self) -> None:
        """Until every running job is over (for tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def cancel(self) -> None:
        """Stop running jobs (at shutdown): a large reindex must not hold the server up."""
        for task in list(self._tasks):
            task.cancel()
        await self.wait()
