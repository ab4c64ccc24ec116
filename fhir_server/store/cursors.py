"""Opaque paging cursors: the sort-key values of a page's edge row.

``a…`` continues after that row, ``b…`` goes back before it (keyset paging; stable while
data changes, unlike offsets). Backend-neutral: every store encodes its keys the same way.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from fhir_server.errors import BadRequest


def encode_cursor(direction: str, values: list[Any]) -> str:
    return direction + base64.urlsafe_b64encode(orjson.dumps(values)).decode().rstrip("=")


def decode_cursor(cursor: str | None, key_count: int) -> tuple[str, list[Any]] | None:
    if cursor is None:
        return None
    try:
        direction, payload = cursor[0], cursor[1:]
        values = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (IndexError, ValueError, orjson.JSONDecodeError):
        values, direction = None, ""
    if direction not in ("a", "b") or not isinstance(values, list) or len(values) != key_count:
        raise BadRequest("_cursor is not a cursor of this search: follow the Bundle's links", expression="_cursor")
    return direction, values
