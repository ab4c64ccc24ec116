"""The fast path of invariants.py (Python equivalents of hot base-spec invariants, keyed by
their exact expression) gives the same three-valued result as fhirpathpy, on every matching
element of official examples (Bundles and what they contain) and on crafted invalid cases."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from support import official_examples

from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.fhir.profiles.invariants import FALLBACK, FAST, Invariant

# invariant key -> (base path, resource type given to fhirpathpy or None), as the validator does
WHERE = {
    "ref-1": ("Reference", None),
    "bdl-3": ("Bundle", "Bundle"),
    "bdl-4": ("Bundle", "Bundle"),
    "bdl-7": ("Bundle", "Bundle"),
    "bdl-5": ("Bundle.entry", None),
    "bdl-8": ("Bundle.entry", None),
    "cmp-1": ("Composition.section", None),
    "dom-2": ("*", "*"),
    "dom-3": ("*", "*"),
    "dom-4": ("*", "*"),
    "dom-5": ("*", "*"),
    "dom-6": ("*", "*"),
    "per-1": ("Period", None),
    "qty-3": ("Quantity", None),
    "tim-2": ("Timing.repeat", None),
    "tim-5": ("Timing.repeat", None),
    "con-3": ("Condition", "Condition"),
    "con-4": ("Condition", "Condition"),
    "con-5": ("Condition", "Condition"),
    "ait-1": ("AllergyIntolerance", "AllergyIntolerance"),
    "ait-2": ("AllergyIntolerance", "AllergyIntolerance"),
    "obs-7": ("Observation", "Observation"),
}
TYPES = ("Bundle", "Composition", "Condition", "AllergyIntolerance", "Observation", "CarePlan", "MedicationRequest")


@pytest.fixture(scope="module")
def invariants() -> dict[str, Invariant]:
    from fhir_server.terminology import TerminologyService

    validator = ProfileValidator.load(None, TerminologyService.load())
    out = {}
    for key in WHERE:
        inv = validator._invariant(key)
        assert inv is not None and inv.fast is not None, f"{key}: its expression has no fast path"
        out[key] = inv
    # every fast expression is the expression of one of these base invariants
    assert {inv.expression for inv in out.values()} == set(FAST)
    return out


def _resources(resource: dict[str, Any], root: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(resource, %rootResource) for the resource and every resource inside it."""
    yield resource, root
    for c in resource.get("contained") or ():
        if isinstance(c, dict) and "resourceType" in c:
            yield from _resources(c, root)
    for e in resource.get("entry") or () if resource.get("resourceType") == "Bundle" else ():
        if isinstance(e, dict) and isinstance(e.get("resource"), dict):
            yield from _resources(e["resource"], e["resource"])


def _dicts(value: Any, key: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(key, object) for every JSON object under ``value``, not entering nested resources."""
    if isinstance(value, list):
        for v in value:
            yield from _dicts(v, key)
    elif isinstance(value, dict):
        if key:
            yield key, value
        for k, v in value.items():
            if not (isinstance(v, dict) and "resourceType" in v) and k != "contained":
                yield from _dicts(v, k)


def _samples(resource: dict[str, Any], root: dict[str, Any]) -> Iterator[tuple[str, Any]]:
    rtype = resource["resourceType"]
    for key in ("dom-2", "dom-3", "dom-4", "dom-5", "dom-6"):
        yield key, resource
    for key, (_, owner) in WHERE.items():
        if owner == rtype:
            yield key, resource
    for name, obj in _dicts(resource):
        if "reference" in obj or name in ("subject", "patient", "author", "performer", "encounter"):
            yield "ref-1", obj
        if name in ("period", "effectivePeriod", "performedPeriod", "validityPeriod") or "start" in obj:
            yield "per-1", obj
        if "value" in obj and ("unit" in obj or "code" in obj or "system" in obj):
            yield "qty-3", obj
        if name == "repeat":
            yield "tim-2", obj
            yield "tim-5", obj
        if name == "section" and rtype == "Composition":
            yield "cmp-1", obj
        if name == "entry" and rtype == "Bundle":
            yield "bdl-5", obj
            yield "bdl-8", obj


def _check(inv: Invariant, key: str, value: Any, resource: dict[str, Any], root: dict[str, Any]) -> str:
    base_path, rtype = WHERE[key]
    if rtype == "*":
        base_path = rtype = resource["resourceType"]
    variables = {"resource": resource, "rootResource": root}
    fast = inv.fast(value, variables)
    if fast is FALLBACK:
        return "fallback"
    slow = inv.evaluate(value, base_path, variables, rtype)
    assert fast == slow, f"{key} on {value!r:.300}: fast path {fast}, fhirpathpy {slow}"
    assert inv.holds(value, base_path, variables, rtype) == (slow is not False)
    return "fast"


def test_fast_path_agrees_with_fhirpathpy_on_official_examples(invariants: dict[str, Invariant]) -> None:
    used: Counter[tuple[str, str]] = Counter()
    for _path, example in official_examples(TYPES):
        for resource, root in _resources(example, example):
            for key, value in _samples(resource, root):
                used[key, _check(invariants[key], key, value, resource, root)] += 1
    for key in WHERE:  # each fast path was taken on the examples, most of them many times
        assert used[key, "fast"] > 0, (key, used[key, "fallback"])
    assert used["ref-1", "fast"] > 1000 and used["bdl-7", "fast"] > 50 and used["dom-6", "fast"] > 1000


PATIENT = {"resourceType": "Patient", "id": "p"}
CONTAINED = {"resourceType": "Patient", "contained": [{"resourceType": "Practitioner", "id": "dr"}]}
VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
AVER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
CLIN = "http://terminology.hl7.org/CodeSystem/condition-clinical"


def _bundle(btype: str | None, *entries: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"resourceType": "Bundle", "entry": list(entries)}
    if btype is not None:
        out["type"] = btype
    return out


def _cc(system: str, code: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code}]}


# (key, value, %rootResource or None = the value itself, the expected three-valued result)
CRAFTED: list[tuple[str, Any, Any, Any]] = [
    ("ref-1", {"reference": "#dr"}, CONTAINED, True),
    ("ref-1", {"reference": "#nobody"}, CONTAINED, False),
    ("ref-1", {"reference": "#dr"}, PATIENT, False),
    ("ref-1", {"reference": "Patient/p"}, PATIENT, True),
    ("ref-1", {"display": "no reference"}, PATIENT, None),
    ("ref-1", {"reference": "#"}, CONTAINED, FALLBACK),
    ("ref-1", {"_reference": {"extension": []}}, PATIENT, FALLBACK),
    ("bdl-3", _bundle("batch", {"resource": PATIENT}), None, False),
    ("bdl-3", _bundle("document", {"resource": PATIENT, "request": {"method": "GET", "url": "x"}}), None, False),
    ("bdl-3", _bundle("transaction", {"resource": PATIENT, "request": {"method": "POST", "url": "P"}}), None, True),
    ("bdl-3", _bundle("collection"), None, True),
    ("bdl-3", {"resourceType": "Bundle", "type": "batch"}, None, True),
    ("bdl-3", _bundle(None, {"resource": PATIENT}), None, FALLBACK),
    ("bdl-4", _bundle("batch-response", {"resource": PATIENT}), None, False),
    ("bdl-4", _bundle("history", {"response": {"status": "200"}}), None, True),
    ("bdl-4", _bundle("searchset", {"response": {"status": "200"}}), None, False),
    ("bdl-7", _bundle("collection", {"fullUrl": "urn:a", "resource": PATIENT}, {"fullUrl": "urn:a"}), None, False),
    ("bdl-7", _bundle(None, {"fullUrl": "urn:a", "resource": PATIENT}, {"fullUrl": "urn:a"}), None, None),
    ("bdl-7", _bundle(None, {"fullUrl": "urn:a"}, {"fullUrl": "urn:b"}), None, True),
    ("bdl-7", _bundle("history", {"fullUrl": "urn:a"}, {"fullUrl": "urn:a"}), None, True),
    (
        "bdl-7",
        _bundle(
            "collection",
            {"fullUrl": "urn:a", "resource": {**PATIENT, "meta": {"versionId": "1"}}},
            {"fullUrl": "urn:a", "resource": {**PATIENT, "meta": {"versionId": "2"}}},
            {"resource": PATIENT},
        ),
        None,
        True,
    ),
    ("bdl-8", {"fullUrl": "http://x/Patient/1/_history/2"}, PATIENT, False),
    ("bdl-8", {"fullUrl": "http://x/Patient/1"}, PATIENT, True),
    ("bdl-8", {"resource": PATIENT}, PATIENT, None),
    ("bdl-5", {"fullUrl": "urn:a"}, PATIENT, False),
    ("bdl-5", {"response": {"status": "200"}}, PATIENT, True),
    ("cmp-1", {"title": "Empty"}, PATIENT, False),
    ("cmp-1", {"title": "Sub", "section": [{"title": "x", "entry": [{"reference": "Patient/p"}]}]}, PATIENT, True),
    ("dom-6", {"resourceType": "Patient"}, None, False),
    ("dom-6", {"resourceType": "Patient", "text": {"status": "empty"}}, None, False),
    ("dom-6", {"resourceType": "Patient", "text": {"status": "generated", "div": "<div>x</div>"}}, None, True),
    ("dom-2", {"resourceType": "Patient"}, None, True),
    ("dom-2", CONTAINED, None, FALLBACK),
    ("dom-3", {"resourceType": "Patient"}, None, True),
    ("dom-4", {"resourceType": "Patient"}, None, True),
    ("dom-5", {"resourceType": "Patient"}, None, True),
    ("per-1", {"start": "2020-01-01"}, PATIENT, True),
    ("per-1", {"end": "2020-01-01"}, PATIENT, True),
    ("per-1", {"start": "2021-01-01", "end": "2020-01-01"}, PATIENT, FALLBACK),
    ("qty-3", {"value": 1, "code": "mg"}, PATIENT, False),
    ("qty-3", {"value": 1, "code": "mg", "system": "http://unitsofmeasure.org"}, PATIENT, True),
    ("qty-3", {"value": 1, "unit": "tablet"}, PATIENT, True),
    ("qty-3", {"value": 1, "code": "mg", "_system": {"extension": []}}, PATIENT, FALLBACK),
    ("tim-2", {"period": 1}, PATIENT, False),
    ("tim-2", {"period": 1, "periodUnit": "d"}, PATIENT, True),
    ("tim-2", {"frequency": 1}, PATIENT, True),
    ("tim-5", {"period": -1, "periodUnit": "d"}, PATIENT, False),
    ("tim-5", {"period": 0.5, "periodUnit": "d"}, PATIENT, True),
    ("tim-5", {"frequency": 2}, PATIENT, True),
    (
        "con-5",
        {
            "resourceType": "Condition",
            "verificationStatus": _cc(VER, "entered-in-error"),
            "clinicalStatus": _cc(CLIN, "active"),
        },
        None,
        False,
    ),
    ("con-5", {"resourceType": "Condition", "verificationStatus": _cc(VER, "entered-in-error")}, None, True),
    (
        "con-5",
        {
            "resourceType": "Condition",
            "verificationStatus": _cc(VER, "confirmed"),
            "clinicalStatus": _cc(CLIN, "active"),
        },
        None,
        True,
    ),
    ("con-3", {"resourceType": "Condition", "verificationStatus": _cc(VER, "confirmed")}, None, True),
    ("con-3", {"resourceType": "Condition", "category": [_cc("x", "problem-list-item")]}, None, FALLBACK),
    (
        "con-4",
        {"resourceType": "Condition", "abatementDateTime": "2020", "clinicalStatus": _cc(CLIN, "active")},
        None,
        False,
    ),
    (
        "con-4",
        {"resourceType": "Condition", "abatementString": "gone", "clinicalStatus": _cc(CLIN, "resolved")},
        None,
        True,
    ),
    ("con-4", {"resourceType": "Condition", "abatementAge": {"value": 3}}, None, False),
    ("con-4", {"resourceType": "Condition"}, None, True),
    ("ait-1", {"resourceType": "AllergyIntolerance", "patient": {"reference": "Patient/p"}}, None, False),
    ("ait-1", {"resourceType": "AllergyIntolerance", "verificationStatus": _cc(AVER, "entered-in-error")}, None, True),
    (
        "ait-2",
        {
            "resourceType": "AllergyIntolerance",
            "verificationStatus": _cc(AVER, "entered-in-error"),
            "clinicalStatus": _cc("x", "active"),
        },
        None,
        False,
    ),
    ("ait-2", {"resourceType": "AllergyIntolerance", "clinicalStatus": _cc("x", "active")}, None, True),
    ("obs-7", {"resourceType": "Observation", "valueString": "x"}, None, True),
    ("obs-7", {"resourceType": "Observation", "component": [{"code": _cc("x", "y")}]}, None, True),
    ("obs-7", {"resourceType": "Observation", "valueString": "x", "component": []}, None, FALLBACK),
]


@pytest.mark.parametrize(("key", "value", "root", "expected"), CRAFTED, ids=[c[0] for c in CRAFTED])
def test_fast_path_agrees_with_fhirpathpy_on_crafted_cases(
    invariants: dict[str, Invariant], key: str, value: Any, root: Any, expected: Any
) -> None:
    inv = invariants[key]
    resource = value if root is None else root
    assert inv.fast(value, {"resource": resource, "rootResource": resource}) is expected
    if expected is not FALLBACK:
        assert _check(inv, key, value, resource, resource) == "fast"
