"""Shared fixtures: the real app on a real SQLite file in a temporary folder."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import TestClient, make_client


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store as a first start leaves it (terminology and search parameters published), made
    once per session and copied for each test: publishing ICD-10 takes about a second."""
    folder = tmp_path_factory.mktemp("seed")
    with make_client(folder):
        pass
    return folder / "fhir.sqlite3"


@pytest.fixture
def client(tmp_path: Path, seeded_store: Path) -> Iterator[TestClient]:
    shutil.copy(seeded_store, tmp_path / "fhir.sqlite3")
    with make_client(tmp_path) as c:
        yield c


@pytest.fixture
def demo_client(tmp_path: Path, seeded_store: Path) -> Iterator[TestClient]:
    shutil.copy(seeded_store, tmp_path / "fhir.sqlite3")
    with make_client(tmp_path, demo=True) as c:
        yield c
