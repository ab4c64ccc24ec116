"""Issue 10.5, conditional writes from several processes on MongoDB. Snapshot isolation alone
lets two conditional creates in two processes both find nothing and both insert; so each
conditional interaction also writes a claim document keyed by its type and sorted criteria, the
second of two overlapping transactions with the same claim fails with a TransactionConflict,
and the HTTP edge runs that request again (:func:`retrying`), which then finds the winner's.

What mongoeco (the test server) cannot express faithfully, so what is not tested here:
- it detects write conflicts per collection, not per document: two overlapping transactions
  inserting different documents into one collection conflict too, so it cannot show that
  without the claim the duplicate would be committed (MongoDB would commit both);
- it detects them only at commit (MongoDB at the loser's write);
- ending the loser's session after such a failed commit puts the loser's writes back in place of
  the winner's, and later transactions on those documents then "fail" while being applied.
So these tests check that the claim is written and shared by equal criteria, that the second of
two overlapping claims fails as a TransactionConflict, and the retry; the end-to-end race over
HTTP (tests/process/test_mongo_conditional_races.py) runs only against a real MongoDB
(FHIR_TEST_MONGODB_URL).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pymongo.errors
import pytest
from mongo_backend import database_url
from pymongo import MongoClient
from support import make_client, patient

from fhir_server.fhir.index_model import ResourceIndex
from fhir_server.store.base import StoredVersion
from fhir_server.store.conflicts import ATTEMPTS, TransactionConflict, retrying
from fhir_server.store.mongo import MongoStore, _translate_error
from fhir_server.store.mongo_schema import CLAIMS

pytestmark = pytest.mark.skipif("mongo" not in __import__("mongo_backend").backends(), reason="FHIR_TEST_BACKENDS")


def _new_patient() -> StoredVersion:
    pid = str(uuid.uuid4())
    body = b'{"resourceType":"Patient","id":"%s"}' % pid.encode()
    return StoredVersion("Patient", pid, 1, "2026-01-01T00:00:00Z", 0, "POST", body)


async def _overlapping(url: str, first: list[tuple[str, str]], second: list[tuple[str, str]]) -> list[object]:
    """Two conditional creates, each in its own store (process), both claiming and inserting
    before either commits; the first commits first. The outcome of each commit (None: committed)."""
    stores = [MongoStore(url), MongoStore(url)]
    try:
        contexts = [store.transaction() for store in stores]
        transactions = [await context.__aenter__() for context in contexts]
        for tx, criteria in zip(transactions, (first, second), strict=True):
            await tx.claim("Patient", criteria)
            await tx.write(_new_patient(), ResourceIndex())
        outcomes: list[object] = []
        for context in contexts:
            try:
                await context.__aexit__(None, None, None)
                outcomes.append(None)
            except TransactionConflict as exc:
                outcomes.append(exc)
        return outcomes
    finally:
        for store in stores:
            await store.close()


def _database(mongo_server_url: str) -> str:
    return database_url(mongo_server_url, f"claims_{uuid.uuid4().hex[:12]}")


def test_the_same_criteria_make_the_second_transaction_fail(mongo_server_url: str) -> None:
    criteria = [("identifier", "urn:test|same")]
    winner, loser = asyncio.run(_overlapping(_database(mongo_server_url), criteria, criteria))
    assert winner is None
    assert isinstance(loser, TransactionConflict) and loser.status == 409


def test_criteria_in_another_order_are_the_same_claim(mongo_server_url: str) -> None:
    one = [("family", "Schmit"), ("birthdate", "1980-01-01")]
    winner, loser = asyncio.run(_overlapping(_database(mongo_server_url), one, one[::-1]))
    assert winner is None and isinstance(loser, TransactionConflict)


def test_conditional_interactions_write_one_claim_per_criteria(tmp_path: Path, mongo_server_url: str) -> None:
    """Over HTTP: a conditional create and a conditional update naming the same criteria (in
    another order) claim the same document, which expires after an hour."""
    url = _database(mongo_server_url)
    body = {"resourceType": "Patient", "identifier": [{"system": "urn:test", "value": "once"}], **patient()}
    with make_client(tmp_path, store=url) as client:
        created = client.post(
            "/Patient", json=body, headers={"If-None-Exist": "identifier=urn:test|once&family=Schmit"}
        )
        assert created.status_code == 201, created.text
        updated = client.put("/Patient?family=Schmit&identifier=urn:test|once", json={**body, "gender": "female"})
        assert updated.status_code == 200 and updated.json()["id"] == created.json()["id"]
    with MongoClient(url) as mongo:
        claims = mongo.get_default_database()[CLAIMS]
        assert [c["_id"] for c in claims.find()] == ["Patient?family=Schmit&identifier=urn%3Atest%7Conce"]
        expiry = claims.index_information()["expiry"]
        assert expiry["key"] == [("at", 1)] and expiry["expireAfterSeconds"] == 3600


@pytest.mark.parametrize(
    "error",
    [
        pymongo.errors.OperationFailure("WriteConflict error", code=112),
        pymongo.errors.OperationFailure("Write conflict during transaction commit"),  # mongoeco, at commit
        pymongo.errors.OperationFailure("x", code=251, details={"errorLabels": ["TransientTransactionError"]}),
        pymongo.errors.DuplicateKeyError("dup", code=11000),
    ],
)
def test_conflicts_are_transaction_conflicts(error: pymongo.errors.PyMongoError) -> None:
    assert isinstance(_translate_error(error), TransactionConflict)


def test_a_request_that_lost_a_conflict_runs_again() -> None:
    calls: list[int] = []

    async def work() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransactionConflict("lost")
        return "done"

    assert asyncio.run(retrying(work)) == "done" and len(calls) == 3

    async def always_losing() -> str:
        calls.append(1)
        raise TransactionConflict("lost")

    calls.clear()
    with pytest.raises(TransactionConflict):
        asyncio.run(retrying(always_losing))
    assert len(calls) == ATTEMPTS
