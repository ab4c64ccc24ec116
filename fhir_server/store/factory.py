"""Choose the store from the settings: MongoDB for a ``mongodb://`` (or ``mongodb+srv://``) URL in
``store`` (``--store`` / ``FHIR_SERVER_STORE``), otherwise the embedded SQLite file in the data dir."""

from __future__ import annotations

from pathlib import Path

from fhir_server.config import Settings
from fhir_server.store.base import Store


def is_mongo_url(location: str | None) -> bool:
    return bool(location) and location.startswith(("mongodb://", "mongodb+srv://"))  # type: ignore[union-attr]


def open_store(settings: Settings) -> Store:
    if is_mongo_url(settings.store):
        from fhir_server.store.mongo import MongoStore

        return MongoStore(settings.store)  # type: ignore[arg-type]
    from fhir_server.store.sqlite import SqliteStore

    path = Path(settings.store) if settings.store else settings.sqlite_path
    if path.is_dir():
        path = path / "fhir.sqlite3"
    return SqliteStore(path, settings.sqlite_synchronous)


def open_location(location: str, sqlite_synchronous: str = "FULL") -> Store:
    """A store named on the command line (copy-store): a MongoDB URL, a data dir or a SQLite file."""
    if is_mongo_url(location):
        from fhir_server.store.mongo import MongoStore

        return MongoStore(location)
    from fhir_server.store.sqlite import SqliteStore

    path = Path(location)
    if path.is_dir() or not path.suffix:
        path = path / "fhir.sqlite3"
    return SqliteStore(path, sqlite_synchronous)
