"""The demo data set served with authentication on, once per backend and module, and real
tokens signed with the server's own key (the built-in authorization server's)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from mongo_backend import backends, database_url
from security_kit import Tokens
from support import TestClient, make_client


def _secured_client(tmp: Path, backend: str, request: pytest.FixtureRequest) -> tuple[TestClient, str | None]:
    if backend == "sqlite":
        return make_client(tmp, auth=True, demo=True), None
    server_url = request.getfixturevalue("mongo_server_url")
    name = f"sec_{uuid.uuid4().hex[:12]}"
    return make_client(tmp, auth=True, demo=True, store=database_url(server_url, name)), name


@pytest.fixture(scope="module", params=backends())
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Tokens]]:
    """(client, tokens) on a store holding the demo data, shared by a module's read-only tests."""
    tmp = tmp_path_factory.mktemp("secured")
    client, _ = _secured_client(tmp, request.param, request)
    with client:
        yield client, Tokens(tmp)


@pytest.fixture(params=backends())
def fresh_secured(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Tokens]]:
    """(client, tokens) on a store of its own, for tests that change consents or data."""
    client, _ = _secured_client(tmp_path, request.param, request)
    with client:
        yield client, Tokens(tmp_path)
