"""Shared fixtures: the real app on a real store — a SQLite file in a temporary folder, or a
MongoDB database (mongoeco's wire server, or FHIR_TEST_MONGODB_URL): see ``mongo_backend``.

``client`` and ``demo_client`` run once per backend of ``FHIR_TEST_BACKENDS`` (default
``sqlite,mongo``): one contract suite, both stores; ``shared_client`` and ``shared_demo_client``
too, once per module.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mongo_backend import Mongoeco, SeedCopier, backends, database_url, wait_reachable
from support import TestClient, fresh_store, make_client


def _seed(folder: Path, **settings: object) -> Path:
    with make_client(folder, **settings):
        pass
    return folder / "fhir.sqlite3"


@pytest.fixture(scope="session")
def seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store as a first start leaves it (terminology and search parameters published), made
    once per session and copied for each test: publishing ICD-10 takes about a second."""
    return _seed(tmp_path_factory.mktemp("seed"))


@pytest.fixture(scope="session")
def demo_seeded_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``seeded_store`` with the demo data loaded too (``demo=True`` on a copy loads nothing more)."""
    return _seed(tmp_path_factory.mktemp("demo-seed"), demo=True)


@pytest.fixture(scope="session")
def mongo_server_url() -> Iterator[str]:
    """A MongoDB server for the session: FHIR_TEST_MONGODB_URL, or mongoeco started here."""
    url = os.environ.get("FHIR_TEST_MONGODB_URL")
    if url:
        wait_reachable(url)
        yield url
        return
    server = Mongoeco()
    try:
        yield server.url
    finally:
        server.stop()


def _mongo_seed(server_url: str, folder: Path, prefix: str, **settings: object) -> Iterator[SeedCopier]:
    seed = prefix + os.environ.get("PYTEST_XDIST_WORKER", "main")
    _seed(folder, store=database_url(server_url, seed), **settings)
    copier = SeedCopier(server_url, seed)
    yield copier
    copier.drop(seed)
    copier.close()


@pytest.fixture(scope="session")
def mongo_seed(mongo_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeedCopier]:
    """The MongoDB counterpart of ``seeded_store``: a seeded database, cloned for each test."""
    yield from _mongo_seed(mongo_server_url, tmp_path_factory.mktemp("mongo-seed"), "seed_")


@pytest.fixture(scope="session")
def mongo_demo_seed(mongo_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SeedCopier]:
    """The MongoDB counterpart of ``demo_seeded_store``."""
    yield from _mongo_seed(mongo_server_url, tmp_path_factory.mktemp("mongo-demo-seed"), "demo_seed_", demo=True)


@pytest.fixture(params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def store_settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[dict[str, object]]:
    """Settings for ``make_client`` that put a fresh, seeded store of the backend under test."""
    with fresh_store(request, backend, tmp_path) as settings:
        yield settings


@pytest.fixture
def client(tmp_path: Path, store_settings: dict[str, object]) -> Iterator[TestClient]:
    with make_client(tmp_path, **store_settings) as c:
        yield c


@pytest.fixture(scope="module", params=backends())
def shared_client(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    """One app on a fresh, seeded store per backend, shared by the tests of a module that take it:
    for tests that write nothing another test of the module looks at (a module makes it its
    ``client`` when that holds for all its tests). Starting an app takes up to a second or more."""
    folder = tmp_path_factory.mktemp("shared")
    with fresh_store(request, request.param, folder) as settings, make_client(folder, **settings) as c:
        yield c


@pytest.fixture(scope="module", params=backends())
def shared_demo_client(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[TestClient]:
    """``shared_client`` with the demo data: for a module's tests that only read it."""
    folder = tmp_path_factory.mktemp("shared-demo")
    with fresh_store(request, request.param, folder, demo=True) as settings:
        with make_client(folder, demo=True, **settings) as c:
            yield c


@pytest.fixture
def demo_client(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[TestClient]:
    with fresh_store(request, backend, tmp_path, demo=True) as settings:
        with make_client(tmp_path, demo=True, **settings) as c:
            yield c
