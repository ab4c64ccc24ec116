"""Helpers shared by the test suites (imported as ``support``; fixtures live in conftest.py)."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from mongo_backend import database_url

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fhir_server.app import create_app
from fhir_server.config import Settings

BASE = "http://testserver"
MARIE_RECORD = {  # the demo data's record of Marie Schmit (her Patient compartment)
    "Patient/lu-patient-marie-schmit",
    "Coverage/lu-coverage-marie-schmit",
    "Condition/lu-condition-marie-schmit-g35",
    "CareTeam/lu-careteam-mr-marie-schmit",
    "Composition/lu-composition-resume-marie-schmit",
    "Consent/lu-consent-dsp-marie-schmit",
}


def r4_examples_dir() -> Path:
    """The unpacked hl7.fhir.r4.examples@4.0.1 package; tests fail (never skip) without it."""
    folder = os.environ.get("FHIR_R4_EXAMPLES")
    if not folder or not Path(folder).is_dir():
        pytest.fail("FHIR_R4_EXAMPLES must point to the unpacked hl7.fhir.r4.examples@4.0.1 package (make test does)")
    return Path(folder)


def make_client(data_dir: Path, **settings: object) -> TestClient:
    """The app on the SQLite store in ``data_dir``, or on ``store="mongodb://…/<database>"``
    (the ``store_settings`` fixture gives the backend under test). Authentication is off
    unless ``auth=True``: the functional suites test FHIR, tests/security tests access."""
    defaults = {"data_dir": data_dir, "base_url": BASE, "log_requests": False, "auth": False}
    app = create_app(Settings(**{**defaults, **settings}))
    return TestClient(app, base_url=BASE)


@contextmanager
def fresh_store(
    request: pytest.FixtureRequest, backend: str, data_dir: Path, *, demo: bool = False
) -> Iterator[dict[str, object]]:
    """Settings for ``make_client(data_dir, ...)`` that put a store of its own, a copy of the
    session's seeded one (``seeded_store`` / ``mongo_seed``; with ``demo``, the one holding the
    demo data too: ``demo_seeded_store`` / ``mongo_demo_seed``), on ``backend``; a MongoDB copy
    is dropped afterwards. Copying takes a fraction of a second, seeding one or several."""
    if backend == "sqlite":
        shutil.copy(request.getfixturevalue("demo_seeded_store" if demo else "seeded_store"), data_dir / "fhir.sqlite3")
        yield {}
        return
    copier = request.getfixturevalue("mongo_demo_seed" if demo else "mongo_seed")
    name = copier.fresh()
    try:
        yield {"store": database_url(copier.server_url, name)}
    finally:
        copier.drop(name)


def patient(family: str = "Schmit", given: str = "Marie", **extra: object) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], **extra}


def official_examples(types: tuple[str, ...]) -> Iterator[tuple[Path, dict[str, Any]]]:
    """(file, resource) for each official 4.0.1 example of the given types, in file order."""
    for path in sorted(r4_examples_dir().glob("*-*.json")):
        resource_type = path.name.split("-", 1)[0]
        if resource_type not in types:
            continue
        resource = json.loads(path.read_text(encoding="utf-8"))
        if resource.get("resourceType") == resource_type:
            yield path, resource
