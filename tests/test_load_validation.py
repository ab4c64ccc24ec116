"""The validation of ``fhir-server load`` (fhir_server/load_validation.py) refuses what a write
over HTTP refuses, although a profiled resource skips the fhir.resources pass when its
StructureDefinition walk finds nothing: shown here on mutations (unknown elements, bad
primitives, wrong JSON shapes, missing required elements) of generated LU data and of official
examples."""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import official_examples

from fhir_server.config import Settings
from fhir_server.errors import BadRequest
from fhir_server.fhir.profile_enforcement import ProfileEnforcement
from fhir_server.fhir.profiles import ProfileValidator
from fhir_server.fhir.validation import validate_structure
from fhir_server.load_validation import LoadChecker
from fhir_server.terminology import TerminologyService

REPO = Path(__file__).resolve().parents[1]
PROFILED_TYPES = ("Patient", "Practitioner", "PractitionerRole", "CareTeam", "Composition", "Claim", "Consent")


class BaseDefinitionEnforcement(ProfileEnforcement):
    """Every resource walked against its type's base StructureDefinition, as if it had a profile."""

    def profiles_for(self, resource: dict[str, Any]) -> list[str]:
        return ["base"]

    def issues(self, resource: dict[str, Any]) -> list:
        return self.validator.validate(resource)


@pytest.fixture(scope="module")
def validator() -> ProfileValidator:
    settings = Settings()
    return ProfileValidator.load(settings.profiles_dir, TerminologyService.load(settings.terminology_dir))


@pytest.fixture(scope="module")
def lu_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("lu")
    subprocess.run(
        [sys.executable, str(REPO / "bench/generate.py"), "--patients", "30", "--seed", "3", "--years", "1",
         "--format", "ndjson", "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    return out


def _places(node: Any, path: tuple = ()) -> Iterator[tuple[tuple, Any]]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for key, value in items:
        yield (*path, key), value
        yield from _places(value, (*path, key))


def _mutations(resource: dict[str, Any], rng: random.Random) -> Iterator[dict[str, Any]]:
    """Copies of the resource, each with one thing wrong somewhere (chosen by ``rng``)."""
    places = [p for p, _ in _places(resource) if p[0] not in ("resourceType", "id", "text")]
    for kind in ("unknown", "primitive", "shape", "type", "drop", "choice") * 2:
        mutant = copy.deepcopy(resource)
        place = rng.choice(places)
        parent: Any = mutant
        for key in place[:-1]:
            parent = parent[key]
        key, value = place[-1], parent[place[-1]]
        if kind == "unknown":
            (value if isinstance(value, dict) else parent if isinstance(parent, dict) else {})["fooBar"] = "x"
        elif kind == "primitive" and isinstance(value, str):
            parent[key] = rng.choice(["2020-13-45", "not a date", " lead", "12:99", "1.2.3", 42])
        elif kind == "primitive" and isinstance(value, bool | int | float):
            parent[key] = rng.choice(["true", "1", 1.5, -1])
        elif kind == "shape" and isinstance(value, list):
            parent[key] = value[0]
        elif kind == "shape" and isinstance(parent, dict):
            parent[key] = [value]
        elif kind == "type":
            parent[key] = "text" if isinstance(value, dict | list) else {"value": value}
        elif kind == "drop" and isinstance(parent, dict):
            del parent[key]
        elif kind == "choice" and isinstance(parent, dict) and isinstance(key, str):
            parent[key + "Integer"] = parent.pop(key)
        else:
            continue
        yield mutant


def _refused_by_structure(resource: dict[str, Any]) -> bool:
    try:
        validate_structure(resource, resource["resourceType"])
    except BadRequest:
        return True
    return False


def _accepted_by_checker(checker: LoadChecker, resource: dict[str, Any]) -> bool:
    return checker.messages([json.dumps(resource).encode()]) == [None]


def _missed(checker: LoadChecker, resources: list[dict[str, Any]], seed: int) -> tuple[int, list[str]]:
    rng = random.Random(seed)
    checked, missed = 0, []
    for resource in resources:
        for mutant in [resource, *_mutations(resource, rng)]:
            if _refused_by_structure(mutant):
                checked += 1
                if _accepted_by_checker(checker, mutant):
                    missed.append(json.dumps(mutant)[:300])
    return checked, missed


def test_mutated_lu_data_is_refused_as_over_http(validator, lu_data: Path) -> None:
    """The real enforcement: LU profiles for the MR resources, fhir.resources for the others."""
    resources = []
    for f in sorted(lu_data.glob("*.ndjson")):
        resources += [json.loads(line) for line in f.read_text(encoding="utf-8").splitlines()[:12]]
    checked, missed = _missed(LoadChecker(ProfileEnforcement(validator)), resources, seed=1)
    assert checked > 500
    assert not missed, missed[:5]


def test_mutated_official_examples_are_refused_by_their_base_definition(validator) -> None:
    """The StructureDefinition walk instead of fhir.resources for every resource, not only the LU ones."""
    resources = [r for _, r in official_examples((*PROFILED_TYPES, "Encounter", "Organization", "Coverage"))]
    checked, missed = _missed(LoadChecker(BaseDefinitionEnforcement(validator)), resources, seed=2)
    assert checked > 600
    assert not missed, missed[:5]


def test_a_contained_resource_the_validator_does_not_know_still_gets_the_structural_pass(validator) -> None:
    checker = LoadChecker(BaseDefinitionEnforcement(validator))
    encounter = {
        "resourceType": "Encounter",
        "status": "finished",
        "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode", "code": "HH"},
        "contained": [{"resourceType": "Location", "id": "home", "description": ["not", "a string"]}],
        "location": [{"location": {"reference": "#home"}}],
    }
    assert any(i.code == "not-supported" for i in validator.validate(encounter))  # the walk skips the Location
    [message] = checker.messages([json.dumps(encounter).encode()])
    assert message is not None and "Encounter.contained[0].description" in message


def test_structural_issues_are_named_first(validator, lu_data: Path) -> None:
    claim = json.loads((lu_data / "10-Claim.ndjson").read_text(encoding="utf-8").splitlines()[0])
    claim["created"] = "yesterday"
    [message] = LoadChecker(ProfileEnforcement(validator)).messages([json.dumps(claim).encode()])
    assert message is not None and message.startswith("Claim.created:"), message
    claim.pop("created")
    assert LoadChecker(ProfileEnforcement(validator)).messages([json.dumps(claim).encode()]) != [None]
