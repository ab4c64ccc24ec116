"""Values the validators index or compare by value (contained ids, extension urls, meta.profile, ...)
with the wrong JSON type: a write, ``$validate`` (body or Parameters, with or without a profile) and
``fhir-server validate`` report them as issues — 400 with an OperationOutcome — never crash (500).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import TestClient

from fhir_server.cli import main
from fhir_server.errors import BadRequest
from fhir_server.fhir.validation import check_json_shape

PRACTITIONER = {"resourceType": "Practitioner", "id": "p"}
WRONG = {
    "contained-id-object": {"contained": [{"resourceType": "Practitioner", "id": {"x": 1}}]},
    "contained-id-object-referenced": {
        "contained": [{"resourceType": "Practitioner", "id": {"x": 1}}],
        "generalPractitioner": [{"reference": "#x"}],
    },
    "contained-id-array": {"contained": [{"resourceType": "Practitioner", "id": ["a"]}]},
    "contained-id-number": {"contained": [{"resourceType": "Practitioner", "id": 5}]},
    "contained-object": {"contained": PRACTITIONER},
    "contained-string": {"contained": ["Practitioner/p"]},
    "contained-no-type": {"contained": [{"id": "a"}]},
    "contained-type-object": {"contained": [{"resourceType": {"a": 1}, "id": "a"}]},
    "nested-contained-meta-profile": {"contained": [{**PRACTITIONER, "meta": {"profile": "http://x"}}]},
    "reference-object": {"generalPractitioner": [{"reference": {"x": 1}}]},
    "reference-number": {"managingOrganization": {"reference": 5}},
    "reference-list-of-strings": {"generalPractitioner": ["Practitioner/p"]},
    "meta-profile-string": {"meta": {"profile": "http://hl7.org/fhir/StructureDefinition/Patient"}},
    "meta-profile-objects": {"meta": {"profile": [{"a": 1}]}},
    "meta-profile-number": {"meta": {"profile": [5]}},
    "meta-string": {"meta": "x"},
    "meta-tag-number": {"meta": {"tag": [5]}},
    "extension-object": {"extension": {"url": "http://x", "valueString": "a"}},
    "extension-url-object": {"extension": [{"url": {"a": 1}, "valueString": "a"}]},
    "extension-number": {"extension": [5]},
    "modifier-extension-url-number": {"modifierExtension": [{"url": 5, "valueString": "a"}]},
    "primitive-extension-string": {"birthDate": "2000-01-01", "_birthDate": {"extension": "x"}},
    "div-object": {"text": {"status": "generated", "div": {"a": 1}}},
}


def patient(case: str) -> dict:
    return {"resourceType": "Patient", **WRONG[case]}


def assert_refused(response, statuses: tuple[int, ...] = (400, 422)) -> None:
    assert response.status_code in statuses, response.text
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome"
    assert any(issue["severity"] in ("error", "fatal") for issue in outcome["issue"]), outcome


@pytest.fixture(scope="module")
def client(shared_client: TestClient) -> TestClient:
    """One server per backend for the module: every case here is refused before anything is stored."""
    return shared_client


@pytest.mark.parametrize("case", WRONG)
def test_writes_refuse_them(client: TestClient, case: str) -> None:
    assert_refused(client.post("/Patient", json=patient(case)))
    assert_refused(client.put("/Patient/x", json={**patient(case), "id": "x"}))
    bundle = {"resourceType": "Bundle", "type": "transaction"}
    bundle["entry"] = [{"resource": patient(case), "request": {"method": "POST", "url": "Patient"}}]
    assert_refused(client.post("/", json=bundle))


@pytest.mark.parametrize("case", WRONG)
def test_validate_reports_them_and_never_crashes(client: TestClient, case: str) -> None:
    """Walkable content gets 200 with error issues ($validate's rule); content that is not a resource
    at all (a wrong JSON type where the validator indexes) gets 400. Never 500."""
    assert_refused(client.post("/Patient/$validate", json=patient(case)), (200, 400, 422))
    for profile in (None, "http://hl7.org/fhir/StructureDefinition/Patient"):
        parameters = {"resourceType": "Parameters", "parameter": [{"name": "resource", "resource": patient(case)}]}
        if profile:
            parameters["parameter"].append({"name": "profile", "valueUri": profile})
        assert_refused(client.post("/Patient/$validate", json=parameters), (200, 400, 422))
    assert_refused(client.post("/Patient/x/$validate", json={**patient(case), "id": "x"}), (200, 400, 422))


def test_a_contained_id_object_is_a_400_naming_the_element(client: TestClient) -> None:
    for response in (
        client.post("/Patient", json=patient("contained-id-object")),
        client.post("/Patient/$validate", json=patient("contained-id-object")),
    ):
        assert response.status_code == 400, response.text
        (issue,) = response.json()["issue"]
        assert issue["expression"] == ["Patient.contained[0].id"]
        assert issue["code"] == "structure"


@pytest.mark.parametrize("case", WRONG)
def test_the_command_line_validator_reports_them(tmp_path: Path, case: str, capsys: pytest.CaptureFixture) -> None:
    file = tmp_path / "patient.json"
    file.write_text(json.dumps(patient(case)))
    assert main(["validate", str(file)]) == 1
    assert ": invalid (" in capsys.readouterr().out


def test_the_shape_check_reaches_bundle_entries_and_nested_resources() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": {"resourceType": "Patient", "id": {"a": 1}}}, {"resource": patient("meta-string")}],
    }
    with pytest.raises(BadRequest) as refused:
        check_json_shape(bundle, "Bundle")
    paths = [issue.expression for issue in refused.value.issues]
    assert paths == [("Bundle.entry[0].resource.id",), ("Bundle.entry[1].resource.meta",)]


def test_well_formed_resources_pass_the_shape_check() -> None:
    check_json_shape(
        {
            "resourceType": "Patient",
            "meta": {"profile": ["http://x"], "tag": [{"code": "a"}]},
            "contained": [PRACTITIONER],
            "extension": [{"url": "http://x", "valueString": "a"}],
            "generalPractitioner": [{"reference": "#p"}],
        },
        "Patient",
    )


@pytest.fixture(scope="module")
def load_checker():
    from fhir_server.config import Settings
    from fhir_server.load_validation import LoadChecker

    settings = Settings()
    return LoadChecker.load(settings.profiles_dir, settings.terminology_dir)


@pytest.mark.parametrize("case", WRONG)
def test_fhir_server_load_refuses_them(load_checker, case: str) -> None:
    """The bulk loader's check, with a claimed profile so the profile walk runs (validate_basics first)."""
    resource = patient(case)
    if isinstance(resource.get("meta"), dict) or "meta" not in resource:
        meta = {**resource.get("meta", {})}
        meta.setdefault("profile", ["http://hl7.org/fhir/StructureDefinition/Patient"])
        resource["meta"] = meta
    with pytest.raises(BadRequest):
        load_checker.check(resource)
