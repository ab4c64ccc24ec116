"""Every official R4 4.0.1 example of the supported types validates against its base definition
with no error, except the known errors of the examples themselves listed here."""

from __future__ import annotations

import pytest
from support import official_examples

from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.fhir.resource_types import SUPPORTED_TYPES

# file -> the (code, location) of its errors. Each is an error in the example, not in the validator:
KNOWN_EXCEPTIONS: dict[str, set[tuple[str, str]]] = {
    # bdl-7: two entries share a fullUrl (and have no versionId)
    "Bundle-dataelements.json": {("invariant", "Bundle")},
    # ext-1: v2 code system concepts carry extensions with both a value and extensions
    "Bundle-v2-valuesets.json": {
        ("invariant", f"Bundle.entry[{e}].resource.concept[{c}].extension[0]")
        for e, c in ((435, 0), (475, 2), (510, 1), (529, 1), (529, 42), (546, 4))
    },
    "CodeSystem-v2-0207.json": {("invariant", "CodeSystem.concept[2].extension[0]")},
    "CodeSystem-v2-0229.json": {("invariant", "CodeSystem.concept[1].extension[0]")},
    "CodeSystem-v2-0241.json": {("invariant", "CodeSystem.concept[4].extension[0]")},
    "CodeSystem-v2-0254.json": {
        ("invariant", "CodeSystem.concept[1].extension[0]"),
        ("invariant", "CodeSystem.concept[42].extension[0]"),
    },
    "CodeSystem-v2-0280.json": {("invariant", "CodeSystem.concept[0].extension[0]")},
    # SearchParameter.base is 1..*: these extension search parameters have none
    **{
        f"SearchParameter-{kind}-extensions-{rtype}-{name}.json": {("required", "SearchParameter.base")}
        for kind, rtype in (("codesystem", "CodeSystem"), ("valueset", "ValueSet"))
        for name in ("author", "effective", "end", "keyword", "workflow")
    },
    # sdf-4: logical models that are not abstract and have no baseDefinition
    **{
        f"StructureDefinition-{name}.json": {("invariant", "StructureDefinition")}
        for name in ("Definition", "Event", "FiveWs", "Request")
    },
}

SHARDS = {"Bundle": 6, "StructureDefinition": 4}
CASES = [(t, s) for t in SUPPORTED_TYPES for s in range(SHARDS.get(t, 1))]


@pytest.fixture(scope="module")
def base_validator() -> ProfileValidator:
    from fhir_server.terminology import TerminologyService

    return ProfileValidator.load(None, TerminologyService.load())


@pytest.mark.parametrize(("resource_type", "shard"), CASES, ids=[f"{t}-{s}" for t, s in CASES])
def test_official_examples_have_no_errors(base_validator: ProfileValidator, resource_type: str, shard: int) -> None:
    shards = SHARDS.get(resource_type, 1)
    seen = 0
    unexpected = {}
    for i, (path, resource) in enumerate(official_examples((resource_type,))):
        if i % shards != shard:
            continue
        seen += 1
        errors = {
            (x.code, x.expression[0] if x.expression else "")
            for x in base_validator.validate(resource)
            if x.severity in ("error", "fatal")
        }
        if errors != KNOWN_EXCEPTIONS.get(path.name, set()):
            unexpected[path.name] = sorted(errors)
    assert seen > 0
    assert unexpected == {}
