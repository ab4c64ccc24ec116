"""Publish resources shipped as files (search parameters, terminology, profiles) into the store.

Each is written with its fixed id only when absent or different (compared without
``meta``), all in one transaction: a restart with unchanged files writes nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import orjson

from fhir_server.fhir.repository import Repository


def content_hash(resource: dict[str, Any]) -> str:
    body = {k: v for k, v in resource.items() if k != "meta"}
    return hashlib.sha256(orjson.dumps(body, option=orjson.OPT_SORT_KEYS)).hexdigest()


def read_folder(folder: Path) -> list[dict[str, Any]]:
    """Every ``*.json`` resource of a folder, in name order."""
    return [orjson.loads(path.read_bytes()) for path in sorted(folder.glob("*.json"))]


async def publish_resources(repository: Repository, resources: Iterable[dict[str, Any]]) -> int:
    """Write what changed; returns the number of resources written."""
    written = 0
    async with repository.transaction() as tx:
        for resource in resources:
            kind, rid = resource["resourceType"], resource.get("id")
            if rid is None:
                raise ValueError(f"a published {kind} needs an id")
            stored = await tx.read(kind, rid)
            if stored is not None and stored.body is not None:
                if content_hash(orjson.loads(stored.body)) == content_hash(resource):
                    continue
            await repository.update(kind, rid, resource, tx=tx)
            written += 1
    return written
