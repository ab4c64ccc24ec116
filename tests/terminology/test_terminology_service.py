"""TerminologyService in-process: lookup, subsumes, validate-code, expand, translate."""

from __future__ import annotations

import pytest

from fhir_server.errors import BadRequest, NotFound, Unprocessable
from fhir_server.terminology import TerminologyService

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ALD = "https://fhir.mr.lu/CodeSystem/ald"
QUALIFYING = "https://fhir.mr.lu/ValueSet/icd10-ald-qualifying"
ALD_VS = "https://fhir.mr.lu/ValueSet/ald"


@pytest.fixture(scope="module")
def service() -> TerminologyService:
    return TerminologyService.load()


@pytest.mark.parametrize(
    ("a", "b", "outcome"),
    [
        ("G35", "G35", "equivalent"),
        ("VI", "G35", "subsumes"),
        ("G35-G37", "G35", "subsumes"),
        ("E84", "E84.0", "subsumes"),
        ("E84.0", "E84", "subsumed-by"),
        ("E84.0", "IV", "subsumed-by"),
        ("G35", "J06.9", "not-subsumed"),
        ("E84.0", "E84.1", "not-subsumed"),
    ],
)
def test_subsumes(service, a, b, outcome):
    assert service.subsumes(ICD10, a, b) == outcome


@pytest.mark.parametrize(
    ("system", "code", "display", "result"),
    [
        (ICD10, "G35", None, True),
        (ICD10, "G35", "multiple sclerosis", True),  # case is ignored
        (ICD10, "G35", "Parkinson disease", False),
        (ICD10, "G99.99", None, False),
        (ALD, "25", "Multiple sclerosis", True),  # the English designation is a valid display
        (ALD, "33", None, False),
    ],
)
def test_validate_in_codesystem(service, system, code, display, result):
    v = service.validate_in_codesystem(system, code, display)
    assert v.result is result
    assert (v.message is None) is result


@pytest.mark.parametrize(
    ("valueset", "system", "code", "result"),
    [
        (QUALIFYING, ICD10, "G35", True),
        (QUALIFYING, ICD10, "E84.0", True),
        (QUALIFYING, ICD10, "G30.1", True),  # project addition to ALD 15
        (QUALIFYING, ICD10, "C50.9", True),
        (QUALIFYING, ICD10, "J06.9", False),
        (QUALIFYING, ICD10, "VI", False),  # a chapter is not a diagnosis
        (QUALIFYING, ALD, "25", False),
        (ALD_VS, ALD, "25", True),
        (ALD_VS, None, "32", True),
        (ALD_VS, ALD, "33", False),
    ],
)
def test_validate_in_valueset(service, valueset, system, code, result):
    assert service.validate_in_valueset(valueset, system, code).result is result


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda s: s.lookup("http://example.org/unknown", "x"), NotFound),
        (lambda s: s.lookup(ICD10, "NOPE"), NotFound),
        (lambda s: s.lookup(ICD10, "G35", version="2010"), NotFound),
        (lambda s: s.lookup(None, "G35"), BadRequest),
        (lambda s: s.subsumes(ICD10, "G35", "NOPE"), NotFound),
        (lambda s: s.validate_in_codesystem("http://example.org/unknown", "x"), NotFound),
        (lambda s: s.validate_in_valueset("http://example.org/vs", ICD10, "G35"), NotFound),
        (lambda s: s.expand_items("http://example.org/vs"), NotFound),
        (lambda s: s.translate(ICD10, "G35", url="http://example.org/cm"), NotFound),
        (lambda s: s.translate("http://example.org/unknown", "x"), NotFound),
    ],
)
def test_errors(service, call, error):
    with pytest.raises(error):
        call(service)


def _vs(*includes, excludes=()):
    compose = {"include": list(includes)}
    if excludes:
        compose["exclude"] = list(excludes)
    return {"resourceType": "ValueSet", "status": "active", "compose": compose}


def _codes(service, resource):
    return [i.code for i in service.expand_items(resource=resource)]


@pytest.mark.parametrize(
    ("resource", "expected"),
    [
        (
            _vs({"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "E84"}]}),
            ["E84", "E84.0", "E84.1", "E84.8", "E84.9"],
        ),
        (
            _vs({"system": ICD10, "filter": [{"property": "concept", "op": "descendent-of", "value": "G35-G37"}]}),
            [
                "G35",
                "G36",
                "G36.0",
                "G36.1",
                "G36.8",
                "G36.9",
                "G37",
                "G37.0",
                "G37.1",
                "G37.2",
                "G37.3",
                "G37.4",
                "G37.5",
                "G37.8",
                "G37.9",
            ],
        ),
        (
            _vs({"system": ICD10, "filter": [{"property": "code", "op": "regex", "value": r"E84\.[01]"}]}),
            ["E84.0", "E84.1"],
        ),
        (
            _vs(
                {
                    "system": ICD10,
                    "filter": [
                        {"property": "display", "op": "regex", "value": "(?i).*cystic fibrosis.*"},
                        {"property": "kind", "op": "=", "value": "category"},
                    ],
                }
            ),
            ["E84", "P75"],
        ),
        (
            _vs(
                {"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "E84"}]},
                excludes=[{"system": ICD10, "concept": [{"code": "E84.9"}, {"code": "E84"}]}],
            ),
            ["E84.0", "E84.1", "E84.8"],
        ),
        (_vs({"system": ICD10, "concept": [{"code": "G35"}, {"code": "J06.9"}, {"code": "NOPE"}]}), ["G35", "J06.9"]),
        (_vs({"system": ICD10, "concept": [{"code": "G35"}, {"code": "J06.9"}], "valueSet": [QUALIFYING]}), ["G35"]),
        (
            _vs(
                {"valueSet": [ALD_VS]},
                excludes=[{"system": ALD, "filter": [{"property": "confidence", "op": "in", "value": "medium,low"}]}],
            ),
            ["01", "02", "03", "04", "31", "32"],
        ),
        (
            _vs({"system": ICD10, "filter": [{"property": "concept", "op": "generalizes", "value": "E84.0"}]}),
            ["E84.0", "E84", "E70-E90", "IV"],
        ),
    ],
)
def test_expand_compose(service, resource, expected):
    assert _codes(service, resource) == expected


def test_expand_errors(service):
    with pytest.raises(Unprocessable):
        service.expand_items(resource=_vs({"system": "http://example.org/unknown"}))
    with pytest.raises(Unprocessable):
        service.expand_items(
            resource=_vs({"system": ICD10, "filter": [{"property": "code", "op": "regex", "value": "("}]})
        )
    with pytest.raises(Unprocessable):
        service.expand_items(resource=_vs({"system": ICD10, "filter": [{"property": "x", "op": "~", "value": "1"}]}))


def test_qualifying_valueset_matches_the_conceptmap(service):
    members = {code for (_, code) in service.members(QUALIFYING)}
    mapped = {code for (system, code) in service.conceptmaps["https://fhir.mr.lu/ConceptMap/ald-icd10"].reverse}
    assert members == mapped and "G35" in members and "J06.9" not in members


@pytest.mark.parametrize(
    ("system", "code", "reverse", "expected"),
    [
        (ICD10, "G35", True, [("25", "equivalent")]),
        (ICD10, "E84.0", True, [("18", "wider")]),
        (ICD10, "F10.7", True, [("15", "wider"), ("23", "wider")]),
        (ICD10, "J06.9", True, []),
        (ALD, "31", False, [(None, "unmatched")]),
    ],
)
def test_translate(service, system, code, reverse, expected):
    matches = service.translate(system, code, reverse=reverse)
    assert [(m.code, m.equivalence) for m in matches] == expected


def test_translate_ald_to_icd10(service):
    matches = service.translate(ALD, "25")
    assert [(m.code, m.equivalence) for m in matches] == [("G35", "equivalent")]
    codes = {m.code for m in service.translate(ALD, "18")}
    assert {"E84", "E84.0", "E84.9"} <= codes


def test_replacing_the_list_is_a_change_of_data_only(tmp_path):
    """A folder with another ALD list (2 entries) loads and answers without code changes."""
    ald = {
        "resourceType": "CodeSystem",
        "id": "ald",
        "url": ALD,
        "version": "test",
        "status": "draft",
        "content": "complete",
        "concept": [{"code": "01", "display": "A"}, {"code": "02", "display": "B"}],
    }
    import orjson

    (tmp_path / "CodeSystem-ald.json").write_bytes(orjson.dumps(ald))
    service = TerminologyService.load(tmp_path)
    assert service.lookup(ALD, "02").concept.display == "B"
    assert service.validate_in_codesystem(ALD, "25").result is False


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="FHIR_SERVER_TERMINOLOGY_DIR"):
        TerminologyService.load(tmp_path / "nowhere")
