"""Shared fixtures: the real app on a real SQLite file in a temporary folder."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

from fhir_server.app import create_app
from fhir_server.config import Settings

BASE = "http://testserver"


def r4_examples_dir() -> Path:
    """The unpacked hl7.fhir.r4.examples@4.0.1 package; tests fail (never skip) without it."""
    folder = os.environ.get("FHIR_R4_EXAMPLES")
    if not folder or not Path(folder).is_dir():
        pytest.fail(
            "FHIR_R4_EXAMPLES must point to the 'package' folder of hl7.fhir.r4.examples@4.0.1 (make test does)"
        )
    return Path(folder)


def make_client(data_dir: Path, **settings: object) -> TestClient:
    app = create_app(Settings(data_dir=data_dir, base_url=BASE, log_requests=False, **settings))
    return TestClient(app, base_url=BASE)


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path) as c:
        yield c


@pytest.fixture
def demo_client(tmp_path: Path) -> Iterator[TestClient]:
    with make_client(tmp_path, demo=True) as c:
        yield c


def patient(family: str = "Schmit", given: str = "Marie", **extra: object) -> dict:
    return {"resourceType": "Patient", "name": [{"family": family, "given": [given]}], **extra}
