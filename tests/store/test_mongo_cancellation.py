"""The MongoDB store under cancellation (the request time limit, issue 11): PyMongo on Python 3.11
now and then swallows a cancellation (``asyncio.wait_for``, CPython gh-86296), so the store raises
a lost one again — at its next call, and before a COMMIT, which it then never runs — and a
COMMIT it has started runs to its end, a successful one reported as such. Over HTTP:
tests/reliability/test_limits.py.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from mongo_backend import database_url
from pymongo import MongoClient

from fhir_server.fhir.index_model import ResourceIndex
from fhir_server.store.base import StoredVersion
from fhir_server.store.mongo import MongoStore

pytestmark = pytest.mark.skipif("mongo" not in __import__("mongo_backend").backends(), reason="FHIR_TEST_BACKENDS")


def _new_patient() -> StoredVersion:
    pid = str(uuid.uuid4())
    body = b'{"resourceType":"Patient","id":"%s"}' % pid.encode()
    return StoredVersion("Patient", pid, 1, "2026-01-01T00:00:00Z", 0, "POST", body)


async def _lose_a_cancellation() -> None:
    """Cancel the current task and swallow the CancelledError, as PyMongo sometimes does."""
    asyncio.current_task().cancel()  # type: ignore[union-attr]
    try:
        await asyncio.sleep(0)
    except asyncio.CancelledError:
        pass


def _run(mongo_server_url: str, scenario: Callable[[MongoStore], Awaitable[None]]) -> None:
    url = database_url(mongo_server_url, f"cancel_{uuid.uuid4().hex[:12]}")

    async def main() -> None:
        store = MongoStore(url)
        try:
            await scenario(store)
        finally:
            await store.close()

    try:
        asyncio.run(main())
    finally:
        with MongoClient(mongo_server_url) as cleanup:
            cleanup.drop_database(url.rsplit("/", 1)[1])


async def _writes_and_reads(store: MongoStore) -> None:
    """The store goes on: a new transaction commits and its resource is read back."""
    version = _new_patient()
    async with store.transaction() as tx:
        await tx.write(version, ResourceIndex())
    assert await store.read("Patient", version.id) is not None


def test_a_cancellation_lost_inside_a_transaction_aborts_it_instead_of_committing(mongo_server_url: str) -> None:
    async def scenario(store: MongoStore) -> None:
        version = _new_patient()
        task = asyncio.current_task()
        assert task is not None
        with pytest.raises(asyncio.CancelledError):
            async with store.transaction() as tx:
                await tx.write(version, ResourceIndex())
                await _lose_a_cancellation()  # after the last store call: only the COMMIT is left
        assert task.uncancel() == 0
        assert await store.read("Patient", version.id) is None
        await _writes_and_reads(store)

    _run(mongo_server_url, scenario)


def test_a_cancellation_lost_in_a_store_call_is_raised_when_it_returns(mongo_server_url: str) -> None:
    async def scenario(store: MongoStore) -> None:
        version = _new_patient()
        task = asyncio.current_task()
        assert task is not None
        with pytest.raises(asyncio.CancelledError):
            async with store.transaction() as tx:
                await _lose_a_cancellation()
                await tx.write(version, ResourceIndex())  # done, then the cancellation raised
        task.uncancel()
        assert await store.read("Patient", version.id) is None
        await _lose_a_cancellation()
        with pytest.raises(asyncio.CancelledError):
            await store.read("Patient", version.id)  # a read outside any transaction too
        task.uncancel()
        await _writes_and_reads(store)

    _run(mongo_server_url, scenario)


def test_a_commit_cancelled_midway_runs_to_its_end_and_counts_as_written(mongo_server_url: str) -> None:
    async def scenario(store: MongoStore) -> None:
        version = _new_patient()
        task = asyncio.current_task()
        assert task is not None
        async with store.transaction() as tx:
            await tx.write(version, ResourceIndex())
            session: Any = tx._session  # type: ignore[attr-defined]
            commit = session.commit_transaction

            async def cancelled_while_committing() -> None:
                task.cancel()  # lands while the store waits for this COMMIT
                await asyncio.sleep(0)  # and reaches the waiting store before the COMMIT is sent
                await commit()

            session.commit_transaction = cancelled_while_committing
        assert task.cancelling() == 1  # not raised: the COMMIT succeeded, the caller answers so
        task.uncancel()
        assert await store.read("Patient", version.id) is not None
        await _writes_and_reads(store)

    _run(mongo_server_url, scenario)
