"""Parsing of Reference.reference strings and canonical URLs into their parts.

See https://hl7.org/fhir/R4/references.html and https://hl7.org/fhir/R4/search.html#reference.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_LITERAL = re.compile(
    r"(?:(?P<base>https?://\S+?)/)?"
    r"(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/(?P<version>[A-Za-z0-9\-.]{1,64}))?"
)
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


class ParsedReference(NamedTuple):
    target_type: str | None
    target_id: str | None
    version: str | None
    url: str | None


def parse_reference(text: str, default_type: str | None = None) -> ParsedReference | None:
    """Split a literal reference; None for contained ("#x") or empty references.

    "Type/id", "Type/id/_history/v" and absolute "http(s)://…/Type/id" give type and id
    (an absolute one also keeps its URL); "urn:uuid:…" and other URLs give only the URL;
    a bare id takes default_type.
    """
    text = text.strip()
    if not text or text.startswith("#"):
        return None
    m = _LITERAL.fullmatch(text)
    if m is not None:
        return ParsedReference(m["type"], m["id"], m["version"], text if m["base"] else None)
    if _ID.fullmatch(text):
        return ParsedReference(default_type, text, None, None)
    return ParsedReference(None, None, None, text)


def parse_canonical(text: str) -> ParsedReference | None:
    """A canonical "url|version" as a URL-only reference (https://hl7.org/fhir/R4/references.html#canonical)."""
    url, _, version = text.strip().partition("|")
    if not url:
        return None
    return ParsedReference(None, None, version or None, url)
