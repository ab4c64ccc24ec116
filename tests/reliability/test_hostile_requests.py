"""Hostile input over real HTTP (issue 11.3): malformed, huge and deeply nested JSON, invalid
UTF-8, SQL and MongoDB injection attempts in query values, bodies and headers, path traversal
in ids — each refused with a 4xx OperationOutcome (or, for a search, answered with no match),
none changing the store or hurting the server. tests/api/test_hostile_input.py has the
in-process basics; this is the wider table, on the server process with the demo data.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest
from reliability_kit import FHIR_JSON, assert_outcome, history_total

DEMO_PATIENT = "lu-patient-marie-schmit"
REFUSED = tuple(range(400, 500))


def nested_extensions(depth: int) -> bytes:
    """A Patient whose extensions nest ``depth`` levels: valid JSON, well under the parser's limit."""
    return (
        b'{"resourceType":"Patient","extension":'
        + b'[{"url":"http://x.lu","extension":' * depth
        + b"[]"
        + b"}]" * depth
        + b"}"
    )


BODIES = {
    "truncated": (b'{"resourceType":"Patient"', REFUSED),
    "single quotes": (b"{'resourceType':'Patient'}", REFUSED),
    "trailing comma": (b'{"resourceType":"Patient",}', REFUSED),
    "NaN literal": (b'{"resourceType":"Patient","multipleBirthInteger":NaN}', REFUSED),
    "invalid UTF-8 in a string": (b'{"resourceType":"Patient","name":[{"family":"\xff\xfe"}]}', REFUSED),
    "UTF-16": ('{"resourceType":"Patient"}'.encode("utf-16"), REFUSED),
    "byte order mark": (b'\xef\xbb\xbf{"resourceType":"Patient"}', REFUSED),
    "lone surrogate": (b'{"resourceType":"Patient","name":[{"family":"\\ud800"}]}', REFUSED),
    "arrays 100,000 deep": (b"[" * 100_000 + b"]" * 100_000, REFUSED),
    "objects 2,000 deep": (b'{"a":' * 2000 + b"1" + b"}" * 2000, REFUSED),
    "extensions 150 deep": (nested_extensions(150), REFUSED),
    "extensions 400 deep": (nested_extensions(400), REFUSED),
    "integer beyond 64 bits": (b'{"resourceType":"Patient","multipleBirthInteger":1180591620717411303424}', REFUSED),
    "two resourceTypes": (b'{"resourceType":"Patient","resourceType":"Observation"}', REFUSED),
    "operator as resourceType": (b'{"resourceType":{"$gt":""}}', REFUSED),
    "operator as element": (b'{"resourceType":"Patient","$where":"sleep(1000)"}', REFUSED),
    "operator as value": (b'{"resourceType":"Patient","gender":{"$ne":null}}', REFUSED),
    "operator as id": (b'{"resourceType":"Patient","id":{"$gt":""}}', REFUSED),
    "traversal as id": (b'{"resourceType":"Patient","id":"../../etc/passwd"}', REFUSED),
}

HOSTILE_VALUES = [
    "name=' OR '1'='1",
    "name=x'; DROP TABLE resources; --",
    'family:exact=" OR ""="',
    "_id=1 OR 1=1",
    "identifier=x|y' UNION SELECT body FROM resources --",
    "name:contains=%",
    "name:contains=_",
    "family=%25%25",
    "identifier=%|%",
    'name={"$gt": ""}',
    'identifier={"$ne": null}',
    "name=%00",
    "name=%C0%AE%C0%AE%2F",
    "general-practitioner=../../etc/passwd",
    "organization=Organization/..%2F..%2Fetc",
]
"""Known parameters, hostile values: each matches no demo patient (200, total 0) or is a 4xx."""

HOSTILE_NAMES = [
    "name[$gt]=",
    "name[$ne]=x",
    "_id[$regex]=.*",
    "$where=1",
    "_has:Condition:subject:$where=1",
    "_include=*:*",
    "_revinclude=Condition:$where",
]
"""Unknown parameters: ignored with a warning (lenient, the default), refused under handling=strict."""

REFUSED_SEARCHES = [
    "_sort=name;DROP TABLE resources",
    "name.$gt=",
    "_sort=(SELECT 1)",
    "_count=1;--",
    "_count=1e3",
    "birthdate=2020' OR 1=1--",
    "_format=../../etc/passwd",
    "_summary=../../etc",
    "_id=../../etc/passwd",
]

PATHS = {
    "/Patient/..%2F..%2Fetc%2Fpasswd": 404,
    "/Patient/%2e%2e%2f%2e%2e%2fetc%2fpasswd": 404,
    "/Patient/%00": 404,
    "/Patient/%ff": 404,
    "/Patient/lu-patient-marie-schmit%00": 404,
    "/%2e%2e/%2e%2e/etc/passwd": 404,
    "/Patient/lu-patient-marie-schmit/_history/..%2F1": 404,
    "/Patient/%24where": 404,
    "/Patient/a%0Ab": 404,  # a newline in the path: FastAPI's own {"detail": …} 404 until the mount takes it
}

# found by the fuzzers of this suite; each was a 500
REGRESSIONS = {
    "version beyond 64 bits": ("GET", "/Patient/lu-patient-marie-schmit/_history/99999999999999999999999", 404),
    "non-ASCII digit as version": ("GET", "/Patient/lu-patient-marie-schmit/_history/%C2%B2", 404),
    "non-ASCII digit as _count": ("GET", "/Patient?_count=%C2%B2", 400),
    "non-ASCII digit as history _count": ("GET", "/Patient/_history?_count=%C2%B2", 400),
    "non-ASCII digit as $expand count": (
        "GET",
        "/ValueSet/$expand?url=https://fhir.mr.lu/ValueSet/ald&count=%C2%B2",
        400,
    ),
    "exponent beyond range": ("GET", "/CodeSystem?context-quantity=1E1000000", 400),
}


@pytest.fixture(scope="module")
def client(demo_server) -> httpx.Client:
    with demo_server.client() as c:
        yield c


@pytest.fixture
def untouched(client: httpx.Client):
    """The store's version count before the test, which must leave it as it is."""
    before = history_total(client)
    yield
    assert history_total(client) == before
    assert client.get(f"/Patient/{DEMO_PATIENT}").json()["meta"]["versionId"] == "1"


def raw_exchange(server, request: bytes) -> tuple[int, bytes]:
    """Send bytes as they are (no client library normalising them); status line and body back."""
    with socket.create_connection((server.host, server.port), timeout=30) as s:
        s.sendall(request)
        answer = b""
        while chunk := s.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize("name", BODIES)
def test_broken_and_hostile_bodies(client, untouched, name: str):
    body, statuses = BODIES[name]
    for method, path in (("POST", "/Patient"), ("PUT", f"/Patient/{DEMO_PATIENT}")):
        assert_outcome(client.request(method, path, content=body, headers={"Content-Type": FHIR_JSON}), *statuses)


@pytest.mark.parametrize("name", ["extensions 400 deep", "operator as value", "invalid UTF-8 in a string"])
def test_hostile_resources_inside_a_transaction(client, untouched, name: str):
    resource = BODIES[name][0]
    bundle = (
        b'{"resourceType":"Bundle","type":"transaction","entry":[{"resource":'
        + resource
        + b',"request":{"method":"POST","url":"Patient"}}]}'
    )
    assert_outcome(client.post("/", content=bundle, headers={"Content-Type": FHIR_JSON}), *REFUSED)


def test_body_above_the_limit_is_413(client, untouched):
    big = b'{"resourceType":"Patient","name":[{"family":"' + b"x" * (17 * 1024 * 1024) + b'"}]}'
    assert_outcome(client.post("/Patient", content=big, headers={"Content-Type": FHIR_JSON}), 413)


@pytest.mark.parametrize("query", HOSTILE_VALUES)
def test_injection_in_search_values_finds_nothing(client, untouched, query: str):
    for prefer in ("handling=lenient", "handling=strict"):
        response = client.get(f"/Patient?{query}", headers={"Prefer": prefer})
        if response.status_code != 200:
            assert_outcome(response, *REFUSED)
            continue
        bundle = response.json()
        assert bundle["resourceType"] == "Bundle" and bundle["total"] == 0, query


@pytest.mark.parametrize("query", HOSTILE_NAMES)
def test_injection_in_parameter_names_is_ignored_or_refused(client, untouched, query: str):
    assert_outcome(client.get(f"/Patient?{query}", headers={"Prefer": "handling=strict"}), 400)
    lenient = client.get(f"/Patient?{query}").json()
    assert lenient["total"] == client.get("/Patient").json()["total"]  # the parameter had no effect
    warnings = [e["resource"] for e in lenient["entry"] if e["search"]["mode"] == "outcome"]
    assert warnings and warnings[0]["issue"][0]["severity"] == "warning"


@pytest.mark.parametrize("query", REFUSED_SEARCHES)
def test_injection_in_result_parameters_is_refused(client, untouched, query: str):
    assert_outcome(client.get(f"/Patient?{query}"), *REFUSED)


@pytest.mark.parametrize("path", PATHS)
def test_traversal_and_odd_ids_in_paths(demo_server, untouched, path: str):
    status, body = raw_exchange(demo_server, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    assert status == PATHS[path]
    assert json.loads(body)["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize(
    "path", ["/Patient/..%2Fx", "/Patient/x%2F..%2F..%2Fy", "/Patient/%2e%2e", "/Patient/" + "a" * 65, "/Patient/a%00b"]
)
def test_writes_to_odd_ids_are_refused(client, untouched, path: str):
    resource_id = httpx.URL(path).path.rsplit("/", 1)[-1]
    body = {"resourceType": "Patient", "id": resource_id}
    assert_outcome(client.put(path, json=body, headers={"Content-Type": FHIR_JSON}), *REFUSED)


@pytest.mark.parametrize("value", ['W/"1 OR 1=1"', '{"$gt": ""}', "*"])
def test_injection_in_if_match(client, untouched, value: str):
    body = {"resourceType": "Patient", "id": DEMO_PATIENT}
    response = client.put(f"/Patient/{DEMO_PATIENT}", json=body, headers={"If-Match": value, "Content-Type": FHIR_JSON})
    assert_outcome(response, *REFUSED)


@pytest.mark.parametrize("criteria", ["identifier=' OR 1=1 --", "name=%", "_id=lu-patient-marie-schmit' OR '1'='1"])
def test_injection_in_if_none_exist_matches_nothing(client, criteria: str):
    """Conditional create: the criteria are plain values that match no demo patient: the server
    creates a new resource (or refuses a malformed value), never answers with an existing one."""
    body = {"resourceType": "Patient", "name": [{"family": "Conditional"}]}
    response = client.post("/Patient", json=body, headers={"If-None-Exist": criteria, "Content-Type": FHIR_JSON})
    if response.status_code != 201:
        assert_outcome(response, 400)
        return
    assert response.json()["name"] == body["name"]
    assert client.delete(f"/Patient/{response.json()['id']}").status_code == 204


def test_what_is_not_http_is_refused_by_the_http_parser(demo_server, untouched):
    """Raw invalid UTF-8 in the request line never reaches the app: uvicorn answers a plain 400."""
    for target in (b"/Patient?name=\xff\xfe", b"/Patient/\xff"):
        status, _ = raw_exchange(demo_server, b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert status == 400
    assert demo_server.alive()


@pytest.mark.parametrize("name", REGRESSIONS)
def test_former_server_errors(client, untouched, name: str):
    method, path, status = REGRESSIONS[name]
    assert_outcome(client.request(method, path), status)


def test_patch_replacing_the_whole_resource_is_refused(client, untouched):
    for value in (None, "Weber", [], 1):
        response = client.patch(
            f"/Patient/{DEMO_PATIENT}",
            json=[{"op": "add", "path": "", "value": value}],
            headers={"Content-Type": "application/json-patch+json"},
        )
        assert_outcome(response, 422)


def test_bundle_entry_method_that_is_not_a_string(client, untouched):
    for method in ({}, [], 1, None):
        bundle = {"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": method, "url": "x"}}]}
        assert_outcome(client.post("/", json=bundle, headers={"Content-Type": FHIR_JSON}), 400)
