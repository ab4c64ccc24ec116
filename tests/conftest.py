"""Shared fixtures: the real app on a real SQLite file in a temporary folder."""

from __future__ import annotations

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
