"""Search over the official R4 examples loaded as data, checked against plain-Python oracles
written independently of the server's index (https://hl7.org/fhir/R4/search.html)."""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support import TestClient, make_client, official_examples

TYPES = (
    "Patient",
    "Practitioner",
    "PractitionerRole",
    "Organization",
    "RelatedPerson",
    "CareTeam",
    "Condition",
    "Encounter",
    "Claim",
    "Coverage",
    "Consent",
    "Composition",
)


@pytest.fixture(scope="module")
def loaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, dict[str, list[dict[str, Any]]]]]:
    """A store holding every official example of TYPES that the server accepts."""
    examples = [resource for _, resource in official_examples(TYPES)]
    entries = [{"resource": r, "request": {"method": "PUT", "url": f"{r['resourceType']}/{r['id']}"}} for r in examples]
    folder: Path = tmp_path_factory.mktemp("examples")
    with make_client(folder) as client:
        response = client.post("/", json={"resourceType": "Bundle", "type": "batch", "entry": entries})
        assert response.status_code == 200
        stored: dict[str, list[dict[str, Any]]] = {}
        for resource, entry in zip(examples, response.json()["entry"], strict=True):
            if entry["response"]["status"].startswith("20"):
                stored.setdefault(resource["resourceType"], []).append(resource)
        assert sum(map(len, stored.values())) == len(examples) > 100  # every example is accepted
        yield client, stored


def _norm(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", text)
    return " ".join("".join(c for c in decomposed if not unicodedata.combining(c)).casefold().split())


def _families(r: dict[str, Any]) -> list[str]:
    return [n["family"] for n in r.get("name", []) if "family" in n]


def _codes(concept: dict[str, Any] | None) -> list[tuple[str | None, str]]:
    return [(c.get("system"), c.get("code")) for c in (concept or {}).get("coding", []) if "code" in c]


def _reference(r: dict[str, Any], key: str) -> str | None:
    return (r.get(key) or {}).get("reference")


ORACLES: list[tuple[str, str, Callable[[dict[str, Any]], bool]]] = [
    ("Patient", "family=cha", lambda r: any(_norm(f).startswith("cha") for f in _families(r))),
    ("Patient", "family:exact=Chalmers", lambda r: "Chalmers" in _families(r)),
    ("Patient", "gender=female", lambda r: r.get("gender") == "female"),
    ("Patient", "gender:not=female", lambda r: r.get("gender") != "female"),
    ("Patient", "birthdate=1974-12-25", lambda r: r.get("birthDate") == "1974-12-25"),
    ("Patient", "active=true", lambda r: r.get("active") is True),
    ("Patient", "general-practitioner:missing=false", lambda r: bool(r.get("generalPractitioner"))),
    ("Condition", "subject=Patient/example", lambda r: _reference(r, "subject") == "Patient/example"),
    (
        "Condition",
        "code=http://snomed.info/sct|39065001",
        lambda r: ("http://snomed.info/sct", "39065001") in _codes(r.get("code")),
    ),
    ("Condition", "clinical-status=active", lambda r: any(c == "active" for _, c in _codes(r.get("clinicalStatus")))),
    ("Encounter", "status=finished", lambda r: r.get("status") == "finished"),
    ("Encounter", "subject=Patient/example", lambda r: _reference(r, "subject") == "Patient/example"),
    ("Organization", "name=health", lambda r: _norm(r.get("name", "")).startswith("health")),
    ("Organization", "name:contains=health", lambda r: "health" in _norm(r.get("name", ""))),
    ("Claim", "use=claim", lambda r: r.get("use") == "claim"),
    ("Claim", "patient=Patient/1", lambda r: _reference(r, "patient") == "Patient/1"),
    ("CareTeam", "status=active", lambda r: r.get("status") == "active"),
    ("Coverage", "status=active", lambda r: r.get("status") == "active"),
    ("Practitioner", "family=care", lambda r: any(_norm(f).startswith("care") for f in _families(r))),
]


@pytest.mark.parametrize(("resource_type", "query", "oracle"), ORACLES, ids=[f"{t}?{q}" for t, q, _ in ORACLES])
def test_search_matches_oracle(loaded, resource_type, query, oracle):
    client, stored = loaded
    expected = sorted(r["id"] for r in stored.get(resource_type, []) if oracle(r))
    bundle = client.get(f"/{resource_type}?{query}&_count=1000").json()
    found = sorted(e["resource"]["id"] for e in bundle.get("entry", []) if e["search"]["mode"] == "match")
    assert found == expected
    assert bundle["total"] == len(expected)


def test_oracles_are_not_vacuous(loaded):
    """Most oracle queries must match something, or the comparison above proves little."""
    _, stored = loaded
    hits = [t for t, _, oracle in ORACLES if any(oracle(r) for r in stored.get(t, []))]
    assert len(hits) >= len(ORACLES) - 3
