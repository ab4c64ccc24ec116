"""$validate over HTTP (the real app) and `fhir-server validate` (a real process). The HTTP tests
read only, or what they wrote: one app per backend for the module (``shared_client``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import TestClient, patient

FHIR_JSON = {"Content-Type": "application/fhir+json"}
NARRATIVE = {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">Marie Schmit</div>'}


@pytest.fixture(scope="module")
def client(shared_client: TestClient) -> TestClient:
    return shared_client


def severities(outcome: dict) -> list[str]:
    assert outcome["resourceType"] == "OperationOutcome"
    return [i["severity"] for i in outcome["issue"]]


def test_type_level_valid_resource(client: TestClient) -> None:
    r = client.post("/Patient/$validate", json=patient(gender="female", text=NARRATIVE), headers=FHIR_JSON)
    assert r.status_code == 200
    assert r.json()["issue"] == [
        {"severity": "information", "code": "informational", "diagnostics": "No issues detected"}
    ]


def test_type_level_invalid_resource(client: TestClient) -> None:
    r = client.post("/Patient/$validate", json=patient(gender="f", colour="blue"), headers=FHIR_JSON)
    assert r.status_code == 200
    issues = r.json()["issue"]
    assert {i["expression"][0] for i in issues if i["severity"] == "error"} == {"Patient.gender", "Patient.colour"}


def test_parameters_with_profile(client: TestClient) -> None:
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "resource", "resource": patient()},
            {"name": "mode", "valueCode": "create"},
            {"name": "profile", "valueUri": "https://nowhere.example/StructureDefinition/x"},
        ],
    }
    r = client.post("/Patient/$validate", json=body, headers=FHIR_JSON)
    assert r.status_code == 200
    assert r.json()["issue"][0]["code"] == "not-found"


def test_wrong_type_for_endpoint(client: TestClient) -> None:
    r = client.post("/Practitioner/$validate", json=patient(), headers=FHIR_JSON)
    assert r.status_code == 200 and "error" in severities(r.json())


def test_instance_level_validates_the_stored_resource(client: TestClient) -> None:
    created = client.post("/Patient", json=patient(gender="male", text=NARRATIVE), headers=FHIR_JSON)
    assert created.status_code == 201
    pid = created.json()["id"]
    r = client.get(f"/Patient/{pid}/$validate")
    assert r.status_code == 200 and severities(r.json()) == ["information"]
    r = client.post(f"/Patient/{pid}/$validate", json=patient(id=pid, gender="nope"), headers=FHIR_JSON)
    assert r.status_code == 200 and "error" in severities(r.json())
    assert client.get("/Patient/unknown-id/$validate").status_code == 404


def test_bad_mode_is_400(client: TestClient) -> None:
    assert client.get("/Patient/$validate?mode=weird").status_code == 400


def test_capability_statement_lists_validate(client: TestClient) -> None:
    statement = client.get("/metadata").json()
    patient_rest = next(r for r in statement["rest"][0]["resource"] if r["type"] == "Patient")
    assert "validate" in {op["name"] for op in patient_rest.get("operation", [])}


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fhir_server", "validate", *args], capture_output=True, text=True, timeout=120
    )


def test_cli_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(patient(gender="female")), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(patient(gender="f")), encoding="utf-8")
    ok = run_cli(str(good))
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "valid" in ok.stdout
    failed = run_cli(str(good), str(bad))
    assert failed.returncode == 1
    assert "Patient.gender" in failed.stdout
    unknown = run_cli(str(good), "--profile", "https://nowhere.example/sd")
    assert unknown.returncode == 1
    missing = run_cli(str(tmp_path / "absent.json"))
    assert missing.returncode == 2
