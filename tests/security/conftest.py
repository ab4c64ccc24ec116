"""The demo data set served with authentication on, once per backend and module, and real
tokens signed with the server's own key (the built-in authorization server's)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from mongo_backend import backends
from security_kit import Tokens
from support import TestClient, fresh_store, make_client


@contextmanager
def _secured(request: pytest.FixtureRequest, backend: str, data_dir: Path) -> Iterator[tuple[TestClient, Tokens]]:
    """A store of its own holding the demo data (a copy of the session's demo seed), served with
    authentication on; the signing key is made for this data dir."""
    with fresh_store(request, backend, data_dir, demo=True) as settings:
        with make_client(data_dir, auth=True, demo=True, **settings) as client:
            yield client, Tokens(data_dir)


@pytest.fixture(scope="module", params=backends())
def secured(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, Tokens]]:
    """(client, tokens) on a store holding the demo data, shared by a module's read-only tests."""
    with _secured(request, request.param, tmp_path_factory.mktemp("secured")) as secured:
        yield secured


@pytest.fixture(params=backends())
def fresh_secured(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[TestClient, Tokens]]:
    """(client, tokens) on a store of its own, for tests that change consents or data."""
    with _secured(request, request.param, tmp_path) as secured:
        yield secured
