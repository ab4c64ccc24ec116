"""String normalisation shared by indexing and querying.

FHIR string search is case- and accent-insensitive and matches on a prefix
(https://hl7.org/fhir/R4/search.html#string); both sides are normalised the same way.
"""

from __future__ import annotations

import unicodedata


def normalize_string(s: str) -> str:
    """Case-fold, strip accents (NFKD minus combining marks) and collapse whitespace."""
    if s.isascii():
        return " ".join(s.lower().split())
    decomposed = unicodedata.normalize("NFKD", s.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.split())


def ascii_digits(text: str, max_length: int = 18) -> bool:
    """A plain non-negative integer that fits in 64 bits: ASCII digits only (``str.isdigit`` also
    accepts '²' and other Unicode digits that ``int`` refuses)."""
    return 0 < len(text) <= max_length and text.isascii() and text.isdigit()
