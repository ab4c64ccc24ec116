"""htmlChecks() (txt-1, txt-2) and resolve() (ctm-1), which fhirpathpy lacks; slicing by profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fhir_server.fhir.profiles import Definitions, ProfileValidator
from fhir_server.fhir.profiles.narrative import html_checks, scan
from fhir_server.terminology import TerminologyService

PROFILES = Path(__file__).resolve().parents[2] / "profiles"
NS = 'xmlns="http://www.w3.org/1999/xhtml"'


def div(body: str, attributes: str = "") -> str:
    return f"<div {NS}{attributes}>{body}</div>"


VALID = [
    div("<p>Marie Schmit, née le 1er décembre 1989</p>"),
    div(
        '<table border="1"><thead><tr><th scope="col">Code</th></tr></thead>'
        '<tbody><tr><td colspan="2">E11.9</td></tr></tbody></table>'
    ),
    div(
        '<ul><li><b>Metformine</b> 1000&#160;mg</li></ul><a href="https://fhir.mr.lu" name="x">lien</a>',
        ' xml:lang="fr" lang="fr"',
    ),
    div('<img src="#photo" alt="photo"/>'),
    div('<span style="color: red" class="x" id="a1" title="t">!</span>'),
]
NOT_ALLOWED = [  # txt-1 fails
    ("script", div("<p>a</p><script>alert(1)</script>")),
    ("form", div('<form action="/x"><input name="q"/></form>')),
    ("iframe", div('<iframe src="https://example.org"></iframe>')),
    ("object", div('<object data="x.swf"></object>')),
    ("event attribute", div('<p onclick="alert(1)">a</p>')),
    ("javascript url", div('<a href=" JavaScript:alert(1)">a</a>')),
    ("head/body", div("<head><title>t</title></head><body>b</body>")),
    ("link", div('<link rel="stylesheet" href="x.css"/>a')),
    ("root is not a div", f"<p {NS}>a</p>"),
    ("no XHTML namespace", "<div><p>a</p></div>"),
    ("foreign namespace inside", div('<svg xmlns="http://www.w3.org/2000/svg"><text>a</text></svg>')),
]
UNPARSABLE = [  # both fail
    ("not well-formed", div("<p>a</div>")),
    ("undefined entity", div("a&nbsp;b")),
    (
        "internal entity (billion laughs)",
        '<!DOCTYPE d [<!ENTITY a "aaaaaaaa"><!ENTITY b "&a;&a;&a;&a;">]>' + div("&b;"),
    ),
    ("external entity", '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]>' + div("&x;")),
    ("processing instruction", div("<?php echo 1; ?>a")),
]


@pytest.mark.parametrize("xhtml", VALID)
def test_valid_narrative(xhtml: str) -> None:
    assert scan(xhtml) == (True, True)
    assert html_checks([xhtml]) == [True]


@pytest.mark.parametrize(("case", "xhtml"), NOT_ALLOWED, ids=[c for c, _ in NOT_ALLOWED])
def test_element_or_attribute_not_allowed(case: str, xhtml: str) -> None:
    assert scan(xhtml)[0] is False
    assert html_checks([xhtml]) == [False]


@pytest.mark.parametrize(("case", "xhtml"), UNPARSABLE, ids=[c for c, _ in UNPARSABLE])
def test_unsafe_or_broken_xml_is_refused(case: str, xhtml: str) -> None:
    assert scan(xhtml) == (False, False)


def test_whitespace_only_narrative_has_no_content() -> None:
    assert scan(div(" \n\t<p> </p>")) == (True, False)
    assert scan(div("<p/>", ' title="only an attribute"')) == (True, False)


@pytest.fixture(scope="module")
def validator() -> ProfileValidator:
    return ProfileValidator.load(None)


def errors(issues: list[Any]) -> list[str]:
    return [i.diagnostics for i in issues if i.severity == "error"]


def patient(xhtml: str) -> dict[str, Any]:
    return {"resourceType": "Patient", "text": {"status": "generated", "div": xhtml}, "name": [{"family": "Schmit"}]}


def test_narrative_invariants_in_a_resource(validator: ProfileValidator) -> None:
    assert errors(validator.validate(patient(VALID[0]))) == []
    bad = errors(validator.validate(patient(NOT_ALLOWED[0][1])))
    assert len(bad) == 1 and bad[0].startswith("Patient.text.div: txt-1:")
    empty = errors(validator.validate(patient(div("  "))))
    assert len(empty) == 1 and empty[0].startswith("Patient.text.div: txt-2:")
    broken = errors(validator.validate(patient(div("a&nbsp;b"))))
    assert [e.split(": ")[:2] for e in broken] == [["Patient.text.div", "txt-1"], ["Patient.text.div", "txt-2"]]


def care_team(member: str, *contained: dict[str, Any]) -> dict[str, Any]:
    team: dict[str, Any] = {
        "resourceType": "CareTeam",
        "id": "ct",
        "participant": [{"member": {"reference": member}, "onBehalfOf": {"reference": "Organization/cabinet"}}],
    }
    if contained:
        team["contained"] = list(contained)
    return team


RELATED = {"resourceType": "RelatedPerson", "id": "rp", "patient": {"reference": "Patient/p"}}
DOCTOR = {"resourceType": "Practitioner", "id": "dr"}


def test_ctm_1_resolves_contained_resources(validator: ProfileValidator) -> None:
    bad = errors(validator.validate(care_team("#rp", RELATED)))
    assert len(bad) == 1 and bad[0].startswith("CareTeam.participant[0]: ctm-1:")
    assert errors(validator.validate(care_team("#dr", DOCTOR))) == []


def test_ctm_1_passes_when_the_member_cannot_be_resolved(validator: ProfileValidator) -> None:
    """resolve() of a reference to another server's data is empty: ctm-1 (iif(empty(), true, ...)) holds."""
    assert errors(validator.validate(care_team("RelatedPerson/rp"))) == []


@pytest.mark.parametrize(
    ("reference", "full_url"),
    [
        ("urn:uuid:5b1c6f0e-8d2a-4e57-9a53-0d6d1c3f2a10", "urn:uuid:5b1c6f0e-8d2a-4e57-9a53-0d6d1c3f2a10"),
        ("https://fhir.mr.lu/fhir/RelatedPerson/rp", "https://fhir.mr.lu/fhir/RelatedPerson/rp"),
        ("RelatedPerson/rp", "https://fhir.mr.lu/fhir/RelatedPerson/rp"),
    ],
    ids=["uuid", "absolute", "relative"],
)
def test_ctm_1_resolves_bundle_entries(validator: ProfileValidator, reference: str, full_url: str) -> None:
    def bundle(target: dict[str, Any], url: str) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "collection",
            "entry": [
                {"fullUrl": "https://fhir.mr.lu/fhir/CareTeam/ct", "resource": care_team(reference)},
                {"fullUrl": url, "resource": target},
            ],
        }

    bad = errors(validator.validate(bundle(RELATED, full_url)))
    assert len(bad) == 1 and bad[0].startswith("Bundle.entry[0].resource.participant[0]: ctm-1:")
    # the same reference naming a Practitioner entry (a mismatch of type and URL is not ctm-1's business)
    assert errors(validator.validate(bundle({**DOCTOR, "id": "rp"}, full_url))) == []


# -- the IPS dependency package -----------------------------------------------------------------


@pytest.fixture(scope="module")
def lu_validator() -> ProfileValidator:
    return ProfileValidator.load(PROFILES, TerminologyService.load())


def test_ips_is_a_dependency_not_an_own_profile() -> None:
    definitions = Definitions.load(PROFILES)
    ips = "http://hl7.org/fhir/uv/ips/StructureDefinition/"
    assert definitions.by_url(ips + "Composition-uv-ips") is not None
    assert definitions.by_url(ips + "Bundle-uv-ips") is not None
    assert not [u for u in definitions.profiles if u.startswith(ips)]
    assert "https://fhir.mr.lu/StructureDefinition/lu-resume-patient" in definitions.profiles
    # an IPS value set whose codes are listed (whole R4 code system minus excludes) is enumerated ...
    status = definitions.value_sets["http://hl7.org/fhir/uv/ips/ValueSet/results-status-uv-ips"]
    assert ("http://hl7.org/fhir/observation-status", "final") in status
    assert ("http://hl7.org/fhir/observation-status", "entered-in-error") not in status
    # ... one defined by SNOMED CT filters is not (its bindings are not checked)
    assert "http://hl7.org/fhir/uv/ips/ValueSet/problems-uv-ips" not in definitions.value_sets


def test_ips_profiles_are_derived_from() -> None:
    import json

    for name, parent in (
        ("lu-resume-patient", "Composition-uv-ips"),
        ("lu-resume-patient-bundle", "Bundle-uv-ips"),
        ("lu-patient", "Patient-uv-ips"),
        ("lu-practitioner", "Practitioner-uv-ips"),
        ("lu-practitionerrole", "PractitionerRole-uv-ips"),
    ):
        sd = json.loads((PROFILES / "structure-definitions" / f"StructureDefinition-{name}.json").read_text())
        assert sd["baseDefinition"] == f"http://hl7.org/fhir/uv/ips/StructureDefinition/{parent}"


def observation(code: str, **extra: Any) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
        "subject": {"reference": "Patient/lu-patient-luc-reding"},
        "effectiveDateTime": "2023-08-22",
        **extra,
    }


def test_entries_sharing_a_type_go_to_the_slice_they_conform_to(lu_validator: ProfileValidator) -> None:
    """The IPS Bundle has eight Observation slices: a heart rate matches none of the IPS profiles
    (open slicing: fine); a tobacco use Observation is checked against Observation-tobaccouse-uv-ips."""
    import copy
    import json

    bundle = json.loads((PROFILES / "examples" / "lu-resume-patient-bundle-valid-luc-reding.json").read_text())
    profile = "https://fhir.mr.lu/StructureDefinition/lu-resume-patient-bundle"
    heart = observation(
        "8867-4", valueQuantity={"value": 62, "unit": "/min", "system": "http://unitsofmeasure.org", "code": "/min"}
    )
    with_heart = copy.deepcopy(bundle)
    with_heart["entry"].append({"fullUrl": "https://fhir.mr.lu/fhir/Observation/hr", "resource": {**heart, "id": "hr"}})
    assert errors(lu_validator.validate(with_heart, profile)) == []
    smoker = observation(
        "72166-2",
        valueCodeableConcept={"coding": [{"system": "http://snomed.info/sct", "code": "8517006"}]},
    )
    with_smoker = copy.deepcopy(bundle)
    with_smoker["entry"].append(
        {"fullUrl": "https://fhir.mr.lu/fhir/Observation/tob", "resource": {**smoker, "id": "tob"}}
    )
    assert errors(lu_validator.validate(with_smoker, profile)) == []
