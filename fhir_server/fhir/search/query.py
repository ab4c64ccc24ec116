"""The backend-neutral search query: frozen data, built by :mod:`.parser`, read by the stores.

A query is an AND of clauses; a clause is an OR of values of one search parameter
(https://hl7.org/fhir/R4/search.html#combining).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

DatePrefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]


@dataclass(frozen=True, slots=True)
class TokenValue:
    code: str | None
    system: str | None
    system_given: bool  # "system|code" or "|code" (system None) as opposed to a bare code


@dataclass(frozen=True, slots=True)
class StringValue:
    normalized: str
    raw: str


@dataclass(frozen=True, slots=True)
class DateValue:
    prefix: DatePrefix
    low: int  # epoch µs, inclusive
    high: int


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    target_type: str | None
    target_id: str | None
    url: str | None  # absolute/canonical URL not on this server


@dataclass(frozen=True, slots=True)
class UriValue:
    value: str


SearchValue = TokenValue | StringValue | DateValue | ReferenceValue | UriValue

Column = Literal["id", "lastUpdated"]


@dataclass(frozen=True, slots=True)
class Clause:
    """param: the search parameter code; kind: its type, or "id"/"lastUpdated" for columns."""

    param: str
    kind: Literal["token", "string", "date", "reference", "uri", "id", "lastUpdated"]
    modifier: str | None
    values: tuple[SearchValue, ...]  # OR
    missing: bool | None = None  # set for :missing=true|false (values then empty)


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    clauses: tuple[Clause, ...]
    count: int
    cursor: str | None = None
    with_total: bool = True


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    resource_type: str | None = None
    resource_id: str | None = None
    since_us: int | None = None
    count: int = 20
    cursor: str | None = None
