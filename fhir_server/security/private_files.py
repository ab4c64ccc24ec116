"""JSON files of the built-in authorization server: owner-only (mode 0600), written atomically."""

from __future__ import annotations

import fcntl
import json
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any


def read_json(path: Path) -> Any | None:
    """The parsed file, or None when it does not exist."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def write_private_json(path: Path, data: Any) -> None:
    """Replace ``path`` atomically: readers see the old file or the new one, never a part."""
    os.replace(_private_temp_file(path, data), path)


def update_private_json(path: Path, change: Callable[[Any | None], Any]) -> None:
    """Read, change and replace ``path`` under an exclusive lock, so two writers (the server seeding
    demo accounts, ``fhir-server user add``) never lose each other's change."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path.with_name(f".{path.name}.lock"), os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        write_private_json(path, change(read_json(path)))
    finally:
        os.close(fd)


def create_private_json(path: Path, data: Any) -> bool:
    """Write ``path`` only if it does not exist yet (False then): a second process racing to
    create the same key loses cleanly and reads the winner's file."""
    temp = _private_temp_file(path, data)
    try:
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        temp.unlink()
    return True


def _private_temp_file(path: Path, data: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        json.dump(data, file, indent=2, sort_keys=True)
        file.write("\n")
        file.flush()
        os.fsync(file.fileno())
    return temp
