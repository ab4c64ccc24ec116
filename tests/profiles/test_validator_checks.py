"""Each kind of check of the generic validator, valid and invalid, table-driven."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from profile_names import MATRICULE, TEST_EXT, TEST_PATIENT

from fhir_server.fhir.profiles import ProfileValidator


def errors(issues: list) -> list:
    return [i for i in issues if i.severity in ("error", "fatal")]


def base_patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "name": [{"family": "Schmit", "given": ["Marie"]}], **extra}


def profiled_patient(**extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Patient",
        "identifier": [{"system": MATRICULE, "value": "1893120105732"}],
        "gender": "female",
        "name": [{"family": "Schmit"}],
        **extra,
    }


# (case, resource, expected error location or None for valid, expected code)
BASE_CASES = [
    ("minimal", base_patient(), None, None),
    ("cardinality min (link.other)", base_patient(link=[{"type": "seealso"}]), "Patient.link[0].other", "required"),
    ("cardinality max/shape (gender list)", base_patient(gender=["male"]), "Patient.gender", "structure"),
    ("unknown element", base_patient(colour="blue"), "Patient.colour", "structure"),
    ("primitive type", base_patient(active="yes"), "Patient.active", "structure"),
    ("primitive format", base_patient(birthDate="1980-13-45"), "Patient.birthDate", "structure"),
    ("complex type", base_patient(maritalStatus="M"), "Patient.maritalStatus", "structure"),
    (
        "choice: two types",
        base_patient(deceasedBoolean=True, deceasedDateTime="2020-01-01"),
        "Patient.deceasedDateTime",
        "structure",
    ),
    ("choice: type not allowed", base_patient(deceasedString="yes"), "Patient.deceasedString", "structure"),
    ("choice: allowed type", base_patient(deceasedDateTime="2020-01-01"), None, None),
    ("reference target ok", base_patient(generalPractitioner=[{"reference": "Practitioner/1"}]), None, None),
    (
        "reference target wrong",
        base_patient(generalPractitioner=[{"reference": "Patient/1"}]),
        "Patient.generalPractitioner[0]",
        "structure",
    ),
    (
        "reference target by type",
        base_patient(managingOrganization={"type": "Patient", "display": "x"}),
        "Patient.managingOrganization",
        "structure",
    ),
    ("required binding ok", base_patient(gender="female"), None, None),
    ("required binding wrong", base_patient(gender="f"), "Patient.gender", "code-invalid"),
    (
        "required binding in a datatype",
        base_patient(telecom=[{"system": "pager-ish", "value": "1"}]),
        "Patient.telecom[0].system",
        "code-invalid",
    ),
    ("invariant pat-1 ok", base_patient(contact=[{"name": {"family": "Weber"}}]), None, None),
    ("invariant pat-1 fails", base_patient(contact=[{"gender": "male"}]), "Patient.contact[0]", "invariant"),
    (
        "invariant per-1 ok",
        base_patient(name=[{"family": "A", "period": {"start": "2020-01-01", "end": "2021-01-01"}}]),
        None,
        None,
    ),
    (
        "invariant per-1 fails",
        base_patient(name=[{"family": "A", "period": {"start": "2021-01-01", "end": "2020-01-01"}}]),
        "Patient.name[0].period",
        "invariant",
    ),
    ("ele-1 empty object", base_patient(maritalStatus={}), "Patient.maritalStatus", "invariant"),
    (
        "ext-1 value and extension",
        base_patient(
            extension=[{"url": "http://x", "valueString": "a", "extension": [{"url": "y", "valueString": "b"}]}]
        ),
        "Patient.extension[0]",
        "invariant",
    ),
    (
        "primitive extension twin ok",
        base_patient(birthDate="1980-01-01", _birthDate={"extension": [{"url": "http://x", "valueString": "t"}]}),
        None,
        None,
    ),
    (
        "contained resource checked",
        base_patient(
            contained=[{"resourceType": "Practitioner", "id": "pr", "gender": "x"}],
            generalPractitioner=[{"reference": "#pr"}],
        ),
        "Patient.contained[0].gender",
        "code-invalid",
    ),
]


@pytest.mark.parametrize(("case", "resource", "where", "code"), BASE_CASES, ids=[c[0] for c in BASE_CASES])
def test_base_checks(
    validator: ProfileValidator, case: str, resource: dict, where: str | None, code: str | None
) -> None:
    found = errors(validator.validate(resource))
    if where is None:
        assert found == [], found
    else:
        assert any(where in i.expression and i.code == code for i in found), found


def test_extensible_binding_is_a_warning(validator: ProfileValidator) -> None:
    odd = {"coding": [{"system": "http://example.org/status", "code": "odd"}]}
    issues = validator.validate(base_patient(maritalStatus=odd))
    assert errors(issues) == []
    bindings = [(i.severity, i.expression) for i in issues if i.code == "code-invalid"]
    assert bindings == [("warning", ("Patient.maritalStatus",))]
    ok = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "M"}]}
    assert not [i for i in validator.validate(base_patient(maritalStatus=ok)) if i.code == "code-invalid"]


def test_binding_through_terminology_service(validator: ProfileValidator) -> None:
    """A ValueSet of the server's terminology (terminology/) is used for bindings of profiles."""
    assert validator.valuesets.members("http://hl7.org/fhir/ValueSet/administrative-gender") is not None
    assert validator.valuesets.members("http://unknown.example/ValueSet/x") is None


def test_bundle_entries_are_validated(validator: ProfileValidator) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"fullUrl": "urn:uuid:1", "resource": base_patient(gender="x")}],
    }
    assert any(i.expression == ("Bundle.entry[0].resource.gender",) for i in errors(validator.validate(bundle)))


# -- the test profile: fixed, pattern, slicing, profile cardinality, profile invariants -------------

PROFILE_CASES = [
    ("valid", profiled_patient(), None, None),
    (
        "profile min (gender)",
        {k: v for k, v in profiled_patient().items() if k != "gender"},
        "Patient.gender",
        "required",
    ),
    ("profile max 0 (deceased)", profiled_patient(deceasedBoolean=False), "Patient.deceasedBoolean", "structure"),
    ("profile type restriction", profiled_patient(multipleBirthInteger=2), "Patient.multipleBirthInteger", "structure"),
    ("fixed value", profiled_patient(active=False), "Patient.active", "value"),
    ("fixed value ok", profiled_patient(active=True), None, None),
    (
        "pattern ok",
        profiled_patient(
            maritalStatus={
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                        "code": "M",
                        "display": "Married",
                    }
                ],
                "text": "married",
            }
        ),
        None,
        None,
    ),
    (
        "pattern mismatch",
        profiled_patient(
            maritalStatus={
                "coding": [{"system": "http://terminology.hl7.org/CodeSystem/v3-MaritalStatus", "code": "S"}]
            }
        ),
        "Patient.maritalStatus",
        "value",
    ),
    (
        "slice min",
        profiled_patient(identifier=[{"system": "https://example.org/other", "value": "1"}]),
        "Patient.identifier",
        "required",
    ),
    (
        "slice max",
        profiled_patient(
            identifier=[
                {"system": MATRICULE, "value": "1893120105732"},
                {"system": MATRICULE, "value": "1893120105732"},
            ]
        ),
        "Patient.identifier",
        "structure",
    ),
    (
        "closed slicing",
        profiled_patient(
            identifier=[
                {"system": MATRICULE, "value": "1893120105732"},
                {"system": "https://elsewhere.example", "value": "1"},
            ]
        ),
        "Patient.identifier[1]",
        "structure",
    ),
    (
        "slice child min",
        profiled_patient(identifier=[{"system": MATRICULE}]),
        "Patient.identifier[0].value",
        "required",
    ),
    (
        "slice invariant",
        profiled_patient(identifier=[{"system": MATRICULE, "value": "12"}]),
        "Patient.identifier[0].value",
        "invariant",
    ),
    ("profile invariant", {k: v for k, v in profiled_patient().items() if k != "name"}, "Patient", "invariant"),
    ("extension slice ok", profiled_patient(extension=[{"url": TEST_EXT, "valueBoolean": True}]), None, None),
    (
        "extension profile type",
        profiled_patient(extension=[{"url": TEST_EXT, "valueString": "yes"}]),
        "Patient.extension[0].valueString",
        "structure",
    ),
    (
        "extension slice max",
        profiled_patient(extension=[{"url": TEST_EXT, "valueBoolean": True}, {"url": TEST_EXT, "valueBoolean": False}]),
        "Patient.extension",
        "structure",
    ),
]


@pytest.mark.parametrize(("case", "resource", "where", "code"), PROFILE_CASES, ids=[c[0] for c in PROFILE_CASES])
def test_profile_checks(
    validator: ProfileValidator, case: str, resource: dict, where: str | None, code: str | None
) -> None:
    found = errors(validator.validate(resource, TEST_PATIENT))
    if where is None:
        assert found == [], found
    else:
        assert any(where in i.expression and i.code == code for i in found), found


def test_meta_profile_is_applied(validator: ProfileValidator) -> None:
    resource = profiled_patient(active=False, meta={"profile": [TEST_PATIENT]})
    assert any(i.code == "value" for i in errors(validator.validate(resource)))
    unknown = base_patient(meta={"profile": ["https://nowhere.example/sd"]})
    assert [i.severity for i in validator.validate(unknown) if i.code == "not-supported"] == ["information"]
    assert errors(validator.validate(unknown)) == []


def test_unknown_or_mismatched_profile(validator: ProfileValidator) -> None:
    assert [i.code for i in validator.validate(base_patient(), "https://nowhere.example/sd")] == ["not-found"]
    practitioner = {"resourceType": "Practitioner"}
    assert any("is for Patient" in i.diagnostics for i in validator.validate(practitioner, TEST_PATIENT))


def test_enforce_raises_422(validator: ProfileValidator) -> None:
    from fhir_server.errors import Unprocessable

    validator.enforce(profiled_patient(), TEST_PATIENT)
    with pytest.raises(Unprocessable) as caught:
        validator.enforce(profiled_patient(active=False), TEST_PATIENT)
    assert caught.value.status == 422 and caught.value.issues


def test_validation_does_not_modify_the_resource(validator: ProfileValidator) -> None:
    resource = profiled_patient(contact=[{"name": {"family": "W"}}], meta={"profile": [TEST_PATIENT]})
    before = copy.deepcopy(resource)
    validator.validate(resource)
    assert resource == before


def test_no_base_invariant_is_skipped(validator: ProfileValidator) -> None:
    """txt-1/txt-2 (htmlChecks) and ctm-1 (resolve) are evaluated; anything skipped says why."""
    for resource in (
        base_patient(text={"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml">x</div>'}),
    ):
        validator.validate(resource)
    skipped = validator.skipped_invariants()
    assert not {"txt-1", "txt-2", "ctm-1"} & set(skipped)
    assert all(reason for reason in skipped.values())
