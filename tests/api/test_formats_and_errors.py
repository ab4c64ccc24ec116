"""Content negotiation, _format/_pretty, error statuses, and the CapabilityStatement's truth.
One app per backend for the module (``shared_client``): a test here reads only, or what it wrote."""

from __future__ import annotations

import pytest
from support import TestClient, patient

from fhir_server.fhir.resource_types import SUPPORTED_TYPES


@pytest.fixture(scope="module")
def client(shared_client: TestClient) -> TestClient:
    return shared_client


@pytest.mark.parametrize(
    "accept", ["application/fhir+json", "application/json", "*/*", "application/fhir+xml, application/fhir+json;q=0.5"]
)
def test_json_is_served(client, accept):
    r = client.get("/metadata", headers={"Accept": accept})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/fhir+json; charset=utf-8"


@pytest.mark.parametrize(
    ("url", "headers"),
    [
        ("/metadata", {"Accept": "application/fhir+xml"}),
        ("/metadata", {"Accept": "text/turtle"}),
        ("/metadata?_format=xml", {}),
        ("/metadata?_format=application/fhir+xml", {"Accept": "application/fhir+json"}),
        ("/Patient/x", {"Accept": "application/fhir+json;q=0, application/xml"}),
    ],
)
def test_other_formats_get_406(client, url, headers):
    r = client.get(url, headers=headers)
    assert r.status_code == 406
    assert r.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("fmt", ["json", "application/json", "application/fhir+json"])
def test_format_parameter_json(client, fmt):
    assert client.get(f"/metadata?_format={fmt}").status_code == 200


def test_xml_body_is_415(client):
    r = client.post(
        "/Patient", content=b"<Patient xmlns='http://hl7.org/fhir'/>", headers={"Content-Type": "application/fhir+xml"}
    )
    assert r.status_code == 415
    assert r.json()["resourceType"] == "OperationOutcome"


def test_pretty(client):
    pid = client.post("/Patient", json=patient()).json()["id"]
    pretty = client.get(f"/Patient/{pid}?_pretty=true")
    assert pretty.text.startswith('{\n  "resourceType"')
    assert pretty.json() == client.get(f"/Patient/{pid}").json()
    assert "\n" in client.get("/Patient?_pretty=true").text


@pytest.mark.parametrize(
    ("method", "url", "status"),
    [
        ("GET", "/Unicorn", 404),
        ("GET", "/Unicorn/1", 404),
        ("GET", "/Observation/1", 404),  # a real FHIR type this server does not serve
        ("GET", "/Patient/1/2", 404),
        ("GET", "/Patient/$everything", 404),
        ("DELETE", "/metadata", 405),
        ("PUT", "/Patient/1/_history", 405),
        ("POST", "/Patient/1", 405),
        ("GET", "/", 405),
        ("OPTIONS", "/Patient", 405),
    ],
)
def test_unknown_types_and_methods(client, method, url, status):
    r = client.request(method, url)
    assert r.status_code == status
    assert r.json()["resourceType"] == "OperationOutcome"


def test_head_is_get_without_body(client):
    pid = client.post("/Patient", json=patient()).json()["id"]
    r = client.head(f"/Patient/{pid}")
    assert r.status_code == 200 and r.content == b"" and r.headers["etag"] == 'W/"1"'
    missing = client.head("/Patient/missing")
    assert missing.status_code == 404 and missing.content == b""


def test_body_size_limit_is_413(tmp_path):
    from support import make_client

    with make_client(tmp_path, max_body_bytes=2000) as small:
        big = patient(name=[{"family": "x" * 5000}])
        r = small.post("/Patient", json=big)
        assert r.status_code == 413
        assert r.json()["issue"][0]["code"] == "too-costly"
        assert small.get("/Patient").json()["total"] == 0


def test_unexpected_errors_are_500_outcomes_without_traces(client, monkeypatch):
    async def broken(*args, **kwargs):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(client.app.state.repository.store, "read", broken)
    r = client.get("/Patient/x")
    assert r.status_code == 500
    assert r.json()["resourceType"] == "OperationOutcome"
    assert "secret" not in r.text and "Traceback" not in r.text


def test_capability_statement_lists_every_type_and_interaction(client):
    cap = client.get("/metadata").json()
    assert cap["resourceType"] == "CapabilityStatement" and cap["fhirVersion"] == "4.0.1"
    rest = cap["rest"][0]
    assert [r["type"] for r in rest["resource"]] == list(SUPPORTED_TYPES)
    assert {i["code"] for i in rest["interaction"]} == {"transaction", "batch", "history-system"}
    for resource in rest["resource"]:
        codes = {i["code"] for i in resource["interaction"]}
        assert codes == {
            "read",
            "vread",
            "update",
            "patch",
            "delete",
            "history-instance",
            "history-type",
            "create",
            "search-type",
        }


_RESULT_PARAM_SAMPLES = {
    "_count": "1",
    "_summary": "true",
    "_elements": "id",
    "_total": "none",
    "_sort": "-_lastUpdated",
}
_SAMPLE = {
    "token": "x",
    "string": "x",
    "date": "2020",
    "reference": "x",
    "uri": "http://example.org/x",
    "number": "1",
    "quantity": "5.4|http://unitsofmeasure.org|mg",
    "composite": "a$b",
}


def test_every_advertised_search_parameter_is_accepted(client):
    """The CapabilityStatement tells the truth: each listed parameter is understood (strict mode)."""
    cap = client.get("/metadata").json()
    checked = 0
    for resource in cap["rest"][0]["resource"]:
        for param in resource["searchParam"]:
            value = _RESULT_PARAM_SAMPLES.get(param["name"]) or _SAMPLE[param["type"]]
            r = client.get(f"/{resource['type']}?{param['name']}={value}", headers={"Prefer": "handling=strict"})
            assert r.status_code == 200, (resource["type"], param["name"], r.text)
            checked += 1
    assert checked > 300


def test_unadvertised_parameters_are_not_silently_applied(client):
    cap = client.get("/metadata").json()
    patient_params = {p["name"] for r in cap["rest"][0]["resource"] if r["type"] == "Patient" for p in r["searchParam"]}
    assert "name" in patient_params and "_text" not in patient_params
    r = client.get("/Patient?_text=x", headers={"Prefer": "handling=strict"})
    assert r.status_code == 400
