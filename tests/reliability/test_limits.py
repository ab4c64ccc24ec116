"""Every configurable limit over real HTTP (issue 11.4), as README's "Reliability" table lists
them: body size and Bundle entries (413), ``_count`` (capped; malformed → 400), ``_include``
fan-out (cut, with a warning), values and chain depth of one search (400), requests in flight
(429 + Retry-After), request time (503, and nothing of the cancelled request written). Each
refusal is an OperationOutcome.
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from mongo_backend import backends, database_url
from reliability_kit import FHIR_JSON, JSON_HEADERS, ServerFactory, assert_outcome, history_total

SMALL = {
    "FHIR_SERVER_MAX_BODY_BYTES": "4000",
    "FHIR_SERVER_MAX_BUNDLE_ENTRIES": "3",
    "FHIR_SERVER_MAX_PAGE_SIZE": "5",
    "FHIR_SERVER_MAX_CONCURRENT_REQUESTS": "1",
}
SEARCH_LIMITS = {
    "FHIR_SERVER_MAX_INCLUDED": "2",
    "FHIR_SERVER_MAX_SEARCH_VALUES": "3",
    "FHIR_SERVER_MAX_CHAIN_DEPTH": "1",
}
TAG = "urn:test:limits"


def seeded_store(request: pytest.FixtureRequest, backend: str, data_dir: Path) -> list[str]:
    """Server arguments for a copy of the session's seeded store on ``backend`` (SQLite: put in
    ``data_dir``): a first start on an empty store publishes the terminology, seconds on mongoeco."""
    data_dir.mkdir(parents=True, exist_ok=True)
    if backend == "sqlite":
        shutil.copy(request.getfixturevalue("seeded_store"), data_dir / "fhir.sqlite3")
        return []
    copier = request.getfixturevalue("mongo_seed")
    name = copier.fresh()
    request.addfinalizer(lambda: copier.drop(name))
    return ["--store", database_url(copier.server_url, name)]


def tagged_patient(marker: str) -> dict:
    return {"resourceType": "Patient", "meta": {"tag": [{"system": TAG, "code": marker}]}, "name": [{"family": "Lim"}]}


def transaction(entries: int, marker: str) -> dict:
    entry = {"resource": tagged_patient(marker), "request": {"method": "POST", "url": "Patient"}}
    return {"resourceType": "Bundle", "type": "transaction", "entry": [entry] * entries}


@pytest.fixture(scope="module")
def small(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A server with every limit set low."""
    folder = tmp_path_factory.mktemp("small")
    (folder / "logs").mkdir()
    factory = ServerFactory(folder / "logs")
    try:
        yield factory(folder / "data", args=seeded_store(request, "sqlite", folder / "data"), env=SMALL)
    finally:
        factory.stop_all()


@pytest.fixture(scope="module", params=backends())
def search_limited(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    """A server with the search limits set low, on each backend: the include limit is the store's."""
    folder = tmp_path_factory.mktemp(f"search-{request.param}")
    (folder / "logs").mkdir()
    factory = ServerFactory(folder / "logs")
    args = seeded_store(request, request.param, folder / "data")
    try:
        server = factory(folder / "data", args=args, env=SEARCH_LIMITS, wait=False)
        server.wait_ready(timeout=120)
        yield server
    finally:
        factory.stop_all()


@contextmanager
def upload_in_progress(server, body: bytes, path: str = "/Patient") -> Iterator[socket.socket]:
    """A request whose body is sent only in part: it stays in flight until the rest follows."""
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        head = f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {FHIR_JSON}\r\nContent-Length: {len(body)}\r\n\r\n"
        s.sendall(head.encode() + body[:10])
        yield s


def answer(s: socket.socket) -> tuple[int, bytes]:
    data = b""
    while b"\r\n\r\n" not in data or len(data.partition(b"\r\n\r\n")[2]) < content_length(data):
        chunk = s.recv(65536)
        if not chunk:
            break
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def content_length(data: bytes) -> int:
    for line in data.partition(b"\r\n\r\n")[0].split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    return 0


def test_body_size_413(small):
    big = tagged_patient("big") | {"address": [{"line": [f"{i}, rue de la Gare"]} for i in range(200)]}
    with small.client() as c:
        before = history_total(c)
        assert_outcome(c.post("/Patient", json=big, headers=JSON_HEADERS), 413)
        chunked = iter([httpx.Request("POST", "/", json=big).content])  # no Content-Length
        assert_outcome(c.post("/Patient", content=chunked, headers=JSON_HEADERS), 413)
        assert c.post("/Patient", json=tagged_patient("small"), headers=JSON_HEADERS).status_code == 201
        assert history_total(c) == before + 1


def test_bundle_entries_413(small):
    with small.client() as c:
        assert_outcome(c.post("/", json=transaction(4, "four"), headers=JSON_HEADERS), 413)
        assert c.get("/Patient", params={"_tag": f"{TAG}|four"}).json()["total"] == 0
        assert c.post("/", json=transaction(3, "three"), headers=JSON_HEADERS).status_code == 200


def test_count_is_capped_at_the_page_size_limit(small):
    """Like HAPI and Firely, a ``_count`` above the maximum is lowered to it (the self link says
    so), and the rest is a page away; a ``_count`` that is not a number is a 400."""
    with small.client() as c:
        for _ in range(7):
            assert c.post("/Patient", json=tagged_patient("page"), headers=JSON_HEADERS).status_code == 201
        bundle = c.get("/Patient", params={"_tag": f"{TAG}|page", "_count": "50"}).json()
        assert len(bundle["entry"]) == 5 and bundle["total"] == 7
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert "_count=5" in links["self"] and "next" in links
        assert len(c.get(links["next"]).json()["entry"]) == 2
        assert_outcome(c.get("/Patient", params={"_count": "many"}), 400)
        assert_outcome(c.get("/Patient/_history", params={"_count": "-1"}), 400)


def test_history_count_is_capped_at_the_page_size_limit(small):
    with small.client() as c:
        pid = c.post("/Patient", json=tagged_patient("versions"), headers=JSON_HEADERS).json()["id"]
        for _ in range(6):
            assert c.put(f"/Patient/{pid}", json=tagged_patient("versions") | {"id": pid}).status_code == 200
        bundle = c.get(f"/Patient/{pid}/_history", params={"_count": "50"}).json()
        assert len(bundle["entry"]) == 5 and bundle["total"] == 7
        links = {link["relation"]: link["url"] for link in bundle["link"]}
        assert "_count=5" in links["self"] and "next" in links


def outcomes(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]


def test_include_fan_out_is_cut_with_a_warning(search_limited):
    """``FHIR_SERVER_MAX_INCLUDED=2``: each _include/_revinclude brings at most 2 resources per
    step, and the Bundle says when some are missing (not when exactly 2 were there)."""
    marker = uuid.uuid4().hex
    with search_limited.client(timeout=60) as c:
        pids = [c.post("/Patient", json=tagged_patient(marker), headers=JSON_HEADERS).json()["id"] for _ in range(3)]
        for pid, tagged in itertools.product(pids, (True, False)):
            condition = {"resourceType": "Condition", "subject": {"reference": f"Patient/{pid}"}}
            if tagged:
                condition["meta"] = {"tag": [{"system": TAG, "code": marker}]}
            assert c.post("/Condition", json=condition, headers=JSON_HEADERS).status_code == 201
        searches = {  # three matches and what they bring: 3 patients, 6 conditions, cut to 2
            "/Condition": {"_tag": f"{TAG}|{marker}", "_include": "Condition:subject"},
            "/Patient": {"_tag": f"{TAG}|{marker}", "_revinclude": "Condition:subject"},
        }
        for path, params in searches.items():
            response = c.get(path, params=params)
            assert response.status_code == 200, response.text
            bundle = response.json()
            modes = [e["search"]["mode"] for e in bundle["entry"]]
            assert modes.count("match") == 3 and modes.count("include") == 2, (path, modes)
            [warning] = outcomes(bundle)
            assert warning["issue"][0]["severity"] == "warning" and warning["issue"][0]["code"] == "too-costly"
            assert "stopped at 2 resources per parameter" in warning["issue"][0]["diagnostics"]
        one = c.get("/Patient", params={"_id": pids[0], "_revinclude": "Condition:subject"}).json()
        assert [e["search"]["mode"] for e in one["entry"]] == ["match", "include", "include"] and not outcomes(one)


def test_values_in_one_search_beyond_the_limit_are_400(search_limited):
    """``FHIR_SERVER_MAX_SEARCH_VALUES=3``: OR and AND values count together."""
    with search_limited.client() as c:
        assert c.get("/Patient", params={"family": "a,b,c"}).status_code == 200
        assert c.get("/Patient", params=[("family", "a"), ("family", "b"), ("given", "c")]).status_code == 200
        for params in ([("family", "a,b,c,d")], [("family", "a,b"), ("given", "c,d")]):
            outcome = assert_outcome(c.get("/Patient", params=params), 400)
            assert "at most 3 values" in outcome["issue"][0]["diagnostics"], outcome


def test_chains_and_has_beyond_the_depth_limit_are_400(search_limited):
    """``FHIR_SERVER_MAX_CHAIN_DEPTH=1``: one level of chaining or ``_has``, not two."""
    with search_limited.client() as c:
        allowed = [
            ("/Condition", "subject:Patient.name", "x"),
            ("/Patient", "_has:Condition:subject:code", "x"),
        ]
        refused = [
            ("/Condition", "subject:Patient.general-practitioner:Practitioner.name", "x"),
            ("/Practitioner", "_has:Patient:general-practitioner:_has:Condition:subject:code", "x"),
            ("/Patient", "_has:Condition:subject:asserter:Practitioner.name", "x"),
        ]
        for path, key, value in allowed:
            response = c.get(path, params={key: value})
            assert response.status_code == 200 and response.json()["total"] == 0, response.text
        for path, key, value in refused:
            outcome = assert_outcome(c.get(path, params={key: value}), 400)
            assert "chains more than 1 levels" in outcome["issue"][0]["diagnostics"], outcome


def test_requests_beyond_the_concurrency_limit_get_429(small):
    body = httpx.Request("POST", "/", json=tagged_patient("slow")).content
    with small.client() as c, upload_in_progress(small, body) as slow:
        deadline = time.monotonic() + 5
        while (response := c.get("/metadata")).status_code != 429 and time.monotonic() < deadline:
            time.sleep(0.02)  # until the server has started on the slow request
        outcome = assert_outcome(response, 429)
        assert outcome["issue"][0]["code"] == "throttled"
        assert response.headers["Retry-After"] == "1"
        assert c.get("/healthz").status_code == 200  # probes are never limited
        slow.sendall(body[10:])
        assert answer(slow)[0] == 201
        assert c.get("/metadata").status_code == 200  # the slot is free again


def test_a_request_over_time_is_cancelled_503_and_writes_nothing(servers, tmp_path, request):
    args = seeded_store(request, "sqlite", tmp_path / "data")
    server = servers(tmp_path / "data", args=args, env={"FHIR_SERVER_REQUEST_TIMEOUT_SECONDS": "2"})
    marker = uuid.uuid4().hex
    body = httpx.Request("POST", "/", json=transaction(3, marker)).content
    with server.client() as c:
        before = history_total(c)
        with upload_in_progress(server, body, path="/") as slow:
            time.sleep(2.5)
            status, outcome = answer(slow)
        assert status == 503
        assert b'"code":"timeout"' in outcome
        assert c.get("/Patient", params={"_tag": f"{TAG}|{marker}"}).json()["total"] == 0
        assert history_total(c) == before
        assert c.post("/", json=transaction(3, marker), headers=JSON_HEADERS).status_code == 200  # nothing stuck


TIMED_OUT = "The request took longer than 1 s and was cancelled"
LARGE_TRANSACTION = {"sqlite": 10_000, "mongo": 1_000}
"""Entries that take well over 1 s to store without the limit: SQLite ~2.6 s, mongoeco ~28 s."""
SWALLOWING_DRIVER = Path(__file__).parent / "swallowing_driver"


def timed_server(servers, tmp_path, request, backend: str, env: dict[str, str] | None = None):
    """A server with a 1 s request time limit on ``backend`` (a fresh copy of the seeded store)."""
    args = seeded_store(request, backend, tmp_path / "data")
    server = servers(
        tmp_path / "data", args=args, env={"FHIR_SERVER_REQUEST_TIMEOUT_SECONDS": "1", **(env or {})}, wait=False
    )
    server.wait_ready(timeout=120)
    return server


def stored_with(c: httpx.Client, marker: str) -> int:
    response = c.get("/Patient", params={"_tag": f"{TAG}|{marker}", "_total": "accurate", "_count": "0"})
    assert response.status_code == 200, response.text
    return response.json()["total"]


def assert_cut_at_the_limit(response: httpx.Response, elapsed: float) -> None:
    outcome = assert_outcome(response, 503)
    assert outcome["issue"][0]["code"] == "timeout" and outcome["issue"][0]["diagnostics"] == TIMED_OUT, outcome
    assert elapsed < 10, f"answered after {elapsed:.1f} s: not stopped at the 1 s limit"


def assert_usable(c: httpx.Client) -> None:
    """The store takes the next transaction (MongoDB: the cancelled session left nothing stuck)."""
    marker = uuid.uuid4().hex
    response = c.post("/", json=transaction(3, marker), headers=JSON_HEADERS)
    assert response.status_code == 200, response.text
    assert stored_with(c, marker) == 3


@pytest.mark.parametrize("backend", backends())
def test_a_large_transaction_over_time_is_cut_503_and_writes_nothing(servers, tmp_path, request, backend):
    """The limit lands inside the store transaction (MongoDB awaits every call; SQLite at the
    Bundle's checkpoints between entries): it is rolled back whole, and the store goes on."""
    server = timed_server(servers, tmp_path, request, backend)
    marker = uuid.uuid4().hex
    with server.client(timeout=120) as c:
        before = history_total(c)
        started = time.monotonic()
        response = c.post("/", json=transaction(LARGE_TRANSACTION[backend], marker), headers=JSON_HEADERS)
        assert_cut_at_the_limit(response, time.monotonic() - started)
        assert stored_with(c, marker) == 0
        assert history_total(c) == before
        assert_usable(c)


@pytest.mark.skipif("mongo" not in backends(), reason="FHIR_TEST_BACKENDS has no mongo")
def test_the_limit_holds_when_the_mongodb_driver_swallows_the_cancellation(servers, tmp_path, request):
    """PyMongo loses a cancellation now and then on Python 3.11 (asyncio.wait_for, gh-86296): a
    1,000-entry transaction cut at 1 s then answered 200 after 27 s. Here the server's PyMongo
    loses every one (``swallowing_driver``): the store raises it again and aborts, so the
    transaction still answers 503 at the limit with nothing written, a batch stops there
    (keeping the entries done before), and the store goes on."""
    path = os.pathsep.join(p for p in (str(SWALLOWING_DRIVER), os.environ.get("PYTHONPATH", "")) if p)
    server = timed_server(servers, tmp_path, request, "mongo", env={"PYTHONPATH": path})
    with server.client(timeout=120) as c:
        before = history_total(c)
        marker = uuid.uuid4().hex
        started = time.monotonic()
        response = c.post("/", json=transaction(1_000, marker), headers=JSON_HEADERS)
        assert_cut_at_the_limit(response, time.monotonic() - started)
        assert stored_with(c, marker) == 0
        assert history_total(c) == before
        assert_usable(c)

        marker = uuid.uuid4().hex
        batch = {**transaction(1_000, marker), "type": "batch"}
        started = time.monotonic()
        response = c.post("/", json=batch, headers=JSON_HEADERS)
        assert_cut_at_the_limit(response, time.monotonic() - started)
        assert stored_with(c, marker) < 1_000
        assert_usable(c)
