"""The audit trail: AuditEvents written through the Repository in batches (group commit).

Requests enqueue :class:`AccessRecord` s; one background task turns them into AuditEvents
(https://hl7.org/fhir/R4/auditevent.html) and writes up to ``batch_size`` of them in one
store transaction, at the latest ``flush_interval`` seconds after the first is queued, at
once when somebody waits (``record_now``, ``flush``). A record the Repository refuses is
logged with its AuditEvent and skipped; a store failure is logged and the batch retried with
backoff (halved after repeated failures, so that one record the store keeps refusing is
isolated and logged instead of blocking the trail). The queue is bounded: what does not fit
is counted and logged, never lost silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from dataclasses import dataclass, replace

import orjson

from fhir_server.errors import FhirError, ServiceUnavailable
from fhir_server.fhir.repository import Repository
from fhir_server.security.audit_events import AccessRecord, audit_event, now_us

log = logging.getLogger(__name__)

SPLIT_AFTER = 2  # failed attempts of a batch of several records before it is halved
GIVE_UP_AFTER = 5  # failed attempts of a single record, while the store answers, before it is dropped
RETRY_FIRST, RETRY_MAX = 0.05, 5.0  # seconds of backoff: doubled at each attempt, capped
DROP_LOG_INTERVAL = 1.0  # seconds between two "dropped" log lines
YIELD_EVERY = 20  # AuditEvents prepared between two turns of the event loop


@dataclass(slots=True)
class _Queued:
    seq: int
    record: AccessRecord
    committed: asyncio.Future[bool] | None = None  # set for record_now: True once committed, False if dropped


class AuditTrail:
    """Writes AuditEvents through the Repository, batched: records are queued and a background task
    writes them in one store transaction per batch (up to ``batch_size`` records, or every
    ``flush_interval`` seconds), so that auditing reads costs one fsync per batch, not per request."""

    def __init__(
        self,
        repository: Repository,
        observer: str,
        *,
        batch_size: int = 200,
        flush_interval: float = 0.05,
        max_queue: int = 100_000,
    ) -> None:
        self._repository = repository
        self._observer = observer
        self._batch_size = batch_size
        self._flush_interval = flush_interval
        self._max_queue = max_queue
        self._queue: deque[_Queued] = deque()
        self._last_seq = 0  # of the last record queued
        self._done_seq = 0  # every record up to this one is committed or dropped
        self._urgent_seq = 0  # somebody waits for the records up to this one
        self._flushes: list[tuple[int, asyncio.Future[None]]] = []
        self._has_items = asyncio.Event()
        self._hurry = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self._dropped = 0
        self._last_drop_log = float("-inf")

    @property
    def dropped(self) -> int:
        """Records that never became a stored AuditEvent (queue full, refused, closed). A refused record
        is logged with its AuditEvent; the other losses at most once a second, with this count."""
        return self._dropped

    async def start(self) -> None:
        """Start the background writer (from the app lifespan)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="audit-trail")

    @property
    def backlog(self) -> int:
        """Records queued and not yet written."""
        return len(self._queue)

    def record(self, record: AccessRecord) -> None:
        """Enqueue; never blocks, never raises into the request."""
        try:
            self._enqueue(record, None)
        except Exception:  # the request must go on; the loss is logged and counted
            log.exception("audit record could not be queued: %r", record)
            self._drop("audit record could not be queued")

    async def record_now(self, record: AccessRecord, *, timeout: float = 10.0) -> None:
        """Enqueue and wait until the batch holding it is committed (break-the-glass, writes).

        Raises :class:`ServiceUnavailable` when the event could not be stored: queue full, trail
        closed, event refused, or not committed within ``timeout`` seconds (the store is down:
        the record stays queued and is written once the store is back)."""
        committed = asyncio.get_running_loop().create_future()
        queued = self._enqueue(record, committed)
        if queued is None:
            raise ServiceUnavailable("the audit trail cannot record this access now; retry later")
        self._hurry_up(queued.seq)
        try:
            async with asyncio.timeout(timeout):
                stored = await asyncio.shield(committed)
        except TimeoutError:
            raise ServiceUnavailable("the audit trail could not store this access in time; retry later") from None
        if not stored:
            raise ServiceUnavailable("the audit trail could not store this access")

    async def flush(self) -> None:
        """Wait until everything queued so far is committed (or dropped, and logged)."""
        target = self._last_seq
        if self._done_seq >= target:
            return
        if self._task is None or self._task.done():
            raise RuntimeError("the audit trail's writer is not running: start() it first")
        done = asyncio.get_running_loop().create_future()
        self._flushes.append((target, done))
        self._hurry_up(target)
        await done

    async def close(self) -> None:
        """Flush, then stop the writer (graceful shutdown); later records are dropped and logged."""
        if self._closed:
            return
        if self._task is not None:
            while self._done_seq < self._last_seq:  # records may arrive while flushing
                await self.flush()
        self._closed = True
        if self._queue:  # never started
            self._drop("the audit trail closed before it was started", len(self._queue))
            self._queue.clear()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    # -- queue -------------------------------------------------------------------------------

    def _enqueue(self, record: AccessRecord, committed: asyncio.Future[bool] | None) -> _Queued | None:
        if self._closed:
            self._drop("the audit trail is closed")
            return None
        if len(self._queue) >= self._max_queue:
            self._drop(f"the audit queue is full ({self._max_queue} records waiting: is the store down?)")
            return None
        if not record.recorded_us:  # the time of the access, not of the write
            record = replace(record, recorded_us=now_us())
        self._last_seq += 1
        queued = _Queued(self._last_seq, record, committed)
        self._queue.append(queued)
        self._has_items.set()
        if len(self._queue) >= self._batch_size:
            self._hurry.set()
        return queued

    def _hurry_up(self, seq: int) -> None:
        self._urgent_seq = max(self._urgent_seq, seq)
        self._hurry.set()

    def _drop(self, why: str, count: int = 1) -> None:
        self._dropped += count
        now = time.monotonic()
        if now - self._last_drop_log >= DROP_LOG_INTERVAL:
            self._last_drop_log = now
            log.error("AuditEvent lost: %s; %d access record(s) dropped since start", why, self._dropped)

    # -- writer ------------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._has_items.wait()
            if not self._hurry.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self._flush_interval):
                        await self._hurry.wait()
            batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
            if not self._queue:
                self._has_items.clear()
            self._calm_down()
            await self._commit(batch)
            self._done_seq = batch[-1].seq
            self._calm_down()
            for target, done in self._flushes:
                if target <= self._done_seq and not done.done():  # done: its caller was cancelled
                    done.set_result(None)
            self._flushes = [(target, done) for target, done in self._flushes if target > self._done_seq]

    def _calm_down(self) -> None:
        """Stop hurrying unless a full batch waits, or a queued record is waited for."""
        if not self._queue or (self._queue[0].seq > self._urgent_seq and len(self._queue) < self._batch_size):
            self._hurry.clear()

    async def _commit(self, batch: list[_Queued]) -> None:
        events: list[tuple[_Queued, dict]] = []
        for queued in batch:
            try:
                events.append((queued, audit_event(queued.record, self._observer)))
            except Exception:
                log.exception("no AuditEvent can be made of %r; dropped", queued.record)
                self._settle(queued, False)
                self._drop("an access record could not be turned into an AuditEvent")
        await self._write_with_retry(events)

    async def _write_with_retry(self, events: list[tuple[_Queued, dict]]) -> None:
        attempt = 0
        while events:
            try:
                refused = await self._write(events)
            except Exception:
                attempt += 1
                log.exception(
                    "audit batch of %d AuditEvent(s) not written (attempt %d); retrying", len(events), attempt
                )
                if len(events) > 1 and attempt >= SPLIT_AFTER:
                    half = len(events) // 2
                    await self._write_with_retry(events[:half])
                    await self._write_with_retry(events[half:])
                    return
                if len(events) == 1 and attempt >= GIVE_UP_AFTER and await self._store_answers():
                    queued, event = events[0]
                    log.error("AuditEvent dropped, the store keeps failing on it: %s", orjson.dumps(event).decode())
                    self._settle(queued, False)
                    self._drop("the store keeps failing on one AuditEvent")
                    return
                await asyncio.sleep(min(RETRY_MAX, RETRY_FIRST * 2 ** (attempt - 1)))
                continue
            for queued, _ in events:
                self._settle(queued, queued.seq not in refused)
            for _ in refused:
                self._drop("the repository refused an AuditEvent")
            return

    async def _write(self, events: list[tuple[_Queued, dict]]) -> set[int]:
        """One transaction, one store call; the sequence numbers of the records the Repository
        refused (nothing of them was written: its hooks run before any write)."""
        refused: set[int] = set()
        prepared = []
        for n, (queued, event) in enumerate(events, 1):
            try:
                prepared.append(self._repository.prepare_trusted("AuditEvent", event))
            except FhirError as exc:
                log.error("AuditEvent refused (%s), dropped: %s", exc, orjson.dumps(event).decode())
                refused.add(queued.seq)
            if n % YIELD_EVERY == 0:
                await asyncio.sleep(0)  # indexing costs ~70 µs an event: let requests run between them
        async with self._repository.transaction() as tx:
            await self._repository.create_trusted_many(prepared, tx)
        return refused

    async def _store_answers(self) -> bool:
        try:
            await self._repository.store.read("AuditEvent", "audit-trail-probe")
        except Exception:
            return False
        return True

    @staticmethod
    def _settle(queued: _Queued, stored: bool) -> None:
        if queued.committed is not None and not queued.committed.done():
            queued.committed.set_result(stored)
