"""The terminology operations over HTTP, on the real app: one per backend for the module
(tests/conftest.py ``shared_client``), as every operation here reads only; publishing again
runs on a store of its own."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import TestClient, make_client

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ALD = "https://fhir.mr.lu/CodeSystem/ald"
QUALIFYING = "https://fhir.mr.lu/ValueSet/icd10-ald-qualifying"
CONCEPTMAP = "https://fhir.mr.lu/ConceptMap/ald-icd10"


@pytest.fixture(scope="module")
def client(shared_client: TestClient) -> TestClient:
    return shared_client


def _params(r) -> dict:
    """Parameters → {name: value or [parts dict, ...]}."""
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "Parameters"
    out: dict = {}
    for p in body["parameter"]:
        if "part" in p:
            out.setdefault(p["name"], []).append(
                {q["name"]: next(v for k, v in q.items() if k.startswith("value")) for q in p["part"]}
            )
        else:
            out[p["name"]] = next(v for k, v in p.items() if k.startswith("value"))
    return out


def _outcome(r, status: int, code: str) -> str:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"][0]["code"] == code
    return body["issue"][0]["diagnostics"]


def test_lookup_returns_display_designations_properties_parent_and_children(client):
    out = _params(client.get(f"/CodeSystem/$lookup?system={ICD10}&code=E84"))
    assert out["name"] == "ICD10" and out["version"] == "2019" and out["display"] == "Cystic fibrosis"
    props = {(p["code"], p["value"]) for p in out["property"]}
    assert ("parent", "E70-E90") in props and ("child", "E84.0") in props and ("kind", "category") in props
    ald = _params(client.get(f"/CodeSystem/$lookup?system={ALD}&code=25"))
    assert ald["display"] == "Sclérose en plaques"
    assert ald["designation"] == [
        {"language": "en", "use": ald["designation"][0]["use"], "value": "Multiple sclerosis"}
    ]
    assert {p["code"] for p in ald["property"]} >= {"source", "confidence"}


def test_lookup_post_instance_and_property_selection(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "coding", "valueCoding": {"system": ICD10, "code": "G35"}},
            {"name": "property", "valueCode": "parent"},
        ],
    }
    out = _params(client.post("/CodeSystem/$lookup", json=body))
    assert out["property"] == [{"code": "parent", "value": "G35-G37"}]
    out = _params(client.get("/CodeSystem/icd-10/$lookup?code=G35-G37&property=parent"))
    assert out["property"] == [{"code": "parent", "value": "VI"}]


@pytest.mark.parametrize(
    ("url", "result", "message"),
    [
        (f"/CodeSystem/$validate-code?url={ICD10}&code=G35", True, None),
        (f"/CodeSystem/$validate-code?url={ICD10}&code=G35&display=Multiple%20sclerosis", True, None),
        (f"/CodeSystem/$validate-code?url={ICD10}&code=G35&display=Asthma", False, "should be 'Multiple sclerosis'"),
        (f"/CodeSystem/$validate-code?url={ICD10}&code=G99.99", False, "Unknown code"),
        ("/CodeSystem/ald/$validate-code?code=18", True, None),
        (f"/ValueSet/$validate-code?url={QUALIFYING}&system={ICD10}&code=G35", True, None),
        (f"/ValueSet/$validate-code?url={QUALIFYING}&system={ICD10}&code=J06.9", False, "not in the value set"),
        (f"/ValueSet/$validate-code?url={QUALIFYING}&system={ICD10}&code=G35&display=x", False, "should be"),
        (f"/ValueSet/icd10-ald-qualifying/$validate-code?system={ICD10}&code=E84.0", True, None),
        ("/ValueSet/ald/$validate-code?code=31", True, None),
    ],
)
def test_validate_code(client, url, result, message):
    out = _params(client.get(url))
    assert out["result"] is result
    if message:
        assert message in out["message"]
    else:
        assert "message" not in out


def test_validate_code_post_codeable_concept(client):
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "url", "valueUri": QUALIFYING},
            {
                "name": "codeableConcept",
                "valueCodeableConcept": {
                    "coding": [{"system": ICD10, "code": "J06.9"}, {"system": ICD10, "code": "G20"}]
                },
            },
        ],
    }
    out = _params(client.post("/ValueSet/$validate-code", json=body))
    assert out["result"] is True and out["display"] == "Parkinson disease"


@pytest.mark.parametrize(
    ("a", "b", "outcome"),
    [
        ("G35-G37", "G35", "subsumes"),
        ("E84.0", "E84", "subsumed-by"),
        ("G35", "G35", "equivalent"),
        ("G35", "J06.9", "not-subsumed"),
    ],
)
def test_subsumes(client, a, b, outcome):
    assert _params(client.get(f"/CodeSystem/$subsumes?system={ICD10}&codeA={a}&codeB={b}")) == {"outcome": outcome}
    assert _params(client.get(f"/CodeSystem/icd-10/$subsumes?codeA={a}&codeB={b}")) == {"outcome": outcome}


def _codes(r) -> list[str]:
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["resourceType"] == "ValueSet"
    return [c["code"] for c in body["expansion"].get("contains", [])]


def test_expand_by_url_and_instance(client):
    r = client.get(f"/ValueSet/$expand?url={QUALIFYING}&filter=sclerosis")
    codes = _codes(r)
    assert "G35" in codes and "J06.9" not in codes
    assert r.json()["expansion"]["total"] == len(codes)
    assert r.json()["expansion"]["parameter"][0] == {"name": "filter", "valueString": "sclerosis"}
    assert "compose" not in r.json()
    assert len(_codes(client.get("/ValueSet/ald/$expand"))) == 32


def test_expand_paging(client):
    everything = _codes(client.get("/ValueSet/ald/$expand"))
    pages = [_codes(client.get(f"/ValueSet/ald/$expand?count=10&offset={o}")) for o in (0, 10, 20, 30)]
    assert [len(p) for p in pages] == [10, 10, 10, 2]
    assert sum(pages, []) == everything
    r = client.get("/ValueSet/ald/$expand?count=10&offset=30")
    assert r.json()["expansion"]["total"] == 32 and r.json()["expansion"]["offset"] == 30


def test_expand_inline_valueset_with_is_a_and_regex(client):
    vs = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {
            "include": [
                {"system": ICD10, "filter": [{"property": "concept", "op": "is-a", "value": "E84"}]},
                {"system": ICD10, "filter": [{"property": "code", "op": "regex", "value": r"G3[5-6]"}]},
            ]
        },
    }
    expected = ["E84", "E84.0", "E84.1", "E84.8", "E84.9", "G35", "G36"]
    body = {"resourceType": "Parameters", "parameter": [{"name": "valueSet", "resource": vs}]}
    assert _codes(client.post("/ValueSet/$expand", json=body)) == expected
    assert _codes(client.post("/ValueSet/$expand", json=vs)) == expected  # a bare ValueSet body


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (f"/ConceptMap/$translate?system={ICD10}&code=G35&reverse=true", [("25", "equivalent")]),
        (f"/ConceptMap/ald-icd10/$translate?system={ICD10}&code=E84.0&reverse=true", [("18", "wider")]),
        (f"/ConceptMap/$translate?url={CONCEPTMAP}&system={ALD}&code=25", [("G35", "equivalent")]),
        (f"/ConceptMap/$translate?system={ICD10}&code=J06.9&reverse=true", []),
    ],
)
def test_translate(client, url, expected):
    out = _params(client.get(url))
    matches = [(m["concept"]["code"], m["equivalence"]) for m in out.get("match", [])]
    assert matches == expected
    assert out["result"] is bool(expected)


def test_translate_unmapped_ald(client):
    out = _params(client.get(f"/ConceptMap/$translate?system={ALD}&code=32"))
    assert out["result"] is False and out["match"] == [{"equivalence": "unmatched", "source": CONCEPTMAP}]
    assert "polypathologies" in out["message"]


@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        ("GET", "/CodeSystem/$lookup?system=http://example.org/x&code=1", 404, "not-found"),
        ("GET", f"/CodeSystem/$lookup?system={ICD10}&code=NOPE", 404, "not-found"),
        ("GET", "/CodeSystem/$lookup?code=G35", 400, "invalid"),
        ("GET", "/CodeSystem/nothing/$lookup?code=G35", 404, "not-found"),
        ("GET", "/CodeSystem/$validate-code?url=http://example.org/x&code=1", 404, "not-found"),
        ("GET", f"/CodeSystem/$subsumes?system={ICD10}&codeA=G35&codeB=NOPE", 404, "not-found"),
        ("GET", "/ValueSet/$expand?url=http://example.org/vs", 404, "not-found"),
        ("GET", "/ValueSet/$expand", 400, "invalid"),
        ("GET", "/ValueSet/nothing/$expand", 404, "not-found"),
        ("GET", "/ValueSet/ald/$expand?count=-1", 400, "invalid"),
        ("GET", "/ValueSet/$validate-code?url=http://example.org/vs&code=1", 404, "not-found"),
        ("GET", "/ConceptMap/$translate?url=http://example.org/cm&system=x&code=1", 404, "not-found"),
        ("GET", "/ConceptMap/$translate?system=http://example.org/x&code=1", 404, "not-found"),
        ("POST", "/ValueSet/$expand", 422, "processing"),
    ],
)
def test_errors_are_operation_outcomes(client, method, url, status, code):
    body = {
        "resourceType": "ValueSet",
        "status": "active",
        "compose": {"include": [{"system": "http://example.org/x"}]},
    }
    r = client.request(method, url, json=body if method == "POST" else None)
    _outcome(r, status, code)


def test_resources_are_published_and_listed(client):
    bundle = client.get(f"/CodeSystem?url={ICD10}").json()
    assert bundle["total"] == 1
    icd = bundle["entry"][0]["resource"]
    assert icd["content"] == "not-present" and icd["count"] > 12000 and "concept" not in icd
    ald = client.get("/CodeSystem/ald").json()
    assert len(ald["concept"]) == 32
    assert client.get("/ValueSet/icd10-ald-qualifying").status_code == 200
    assert client.get("/ConceptMap/ald-icd10").json()["url"] == CONCEPTMAP
    ops = {
        (res["type"], op["definition"])
        for res in client.get("/metadata").json()["rest"][0]["resource"]
        for op in res.get("operation", [])
    }
    base = "http://hl7.org/fhir/OperationDefinition/"
    for kind, name in [
        ("CodeSystem", "lookup"),
        ("CodeSystem", "validate-code"),
        ("CodeSystem", "subsumes"),
        ("ValueSet", "expand"),
        ("ValueSet", "validate-code"),
        ("ConceptMap", "translate"),
    ]:
        assert (kind, f"{base}{kind}-{name}") in ops


def test_publishing_again_writes_nothing(tmp_path: Path, store_settings: dict) -> None:
    from fhir_server.terminology.publish import publish

    with make_client(tmp_path, **store_settings) as client:
        app = client.app
        assert client.portal.call(publish, app.state.repository, app.state.terminology) == 0
        assert client.get("/CodeSystem/ald").json()["meta"]["versionId"] == "1"
