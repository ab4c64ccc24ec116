"""The backend-neutral search query: frozen data, built by :mod:`.parser`, read by the stores.

A query is an AND of criteria; a :class:`Clause` is an OR of values of one search parameter
(https://hl7.org/fhir/R4/search.html#combining). Chains and reverse chains (``_has``) nest
criteria evaluated on other resource types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Prefix = Literal["eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"]
Kind = Literal["token", "string", "date", "reference", "uri", "number", "quantity", "composite", "id", "lastUpdated"]


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
class RangeValue:
    """A date (epoch µs) or number, with the range its precision implies, and a prefix."""

    prefix: Prefix
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class QuantityValue:
    prefix: Prefix
    low: float
    high: float
    system: str | None
    code: str | None


@dataclass(frozen=True, slots=True)
class ReferenceValue:
    target_type: str | None
    target_id: str | None
    url: str | None  # absolute/canonical URL not on this server


@dataclass(frozen=True, slots=True)
class UriValue:
    value: str


@dataclass(frozen=True, slots=True)
class CodeSetValue:
    """token :in / :not-in: the codes of a ValueSet expansion, as (system, code) pairs."""

    codes: frozenset[tuple[str | None, str]]


SearchValue = TokenValue | StringValue | RangeValue | QuantityValue | ReferenceValue | UriValue | CodeSetValue


@dataclass(frozen=True, slots=True)
class Clause:
    """param: the search parameter code; kind: its type, or "id"/"lastUpdated" for columns."""

    param: str
    kind: Kind
    modifier: str | None
    values: tuple[SearchValue, ...]  # OR
    missing: bool | None = None  # set for :missing=true|false (values then empty)


@dataclass(frozen=True, slots=True)
class Chain:
    """``param.inner``: resources whose reference ``param`` points to a target matching ``inner``.

    One branch per possible target type, each with the inner criterion parsed for that type.
    """

    param: str
    branches: tuple[tuple[str, Criterion], ...]


@dataclass(frozen=True, slots=True)
class ReverseChain:
    """``_has:source_type:param:inner``: resources referenced by a ``source_type`` matching ``inner``."""

    source_type: str
    param: str
    inner: Criterion


@dataclass(frozen=True, slots=True)
class InCompartment:
    """Resources in the compartment of one of ``ids``: a reference through one of ``params``
    (the compartment definition's parameters for the type) to a ``compartment_type`` with one
    of those ids (https://hl7.org/fhir/R4/compartmentdefinition.html). The access decision
    adds it; clients cannot write it."""

    compartment_type: str
    params: tuple[str, ...]
    ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AllOf:
    """An AND of criteria where a single criterion is expected (a chain branch, a ``_has``)."""

    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    """An OR of criteria (the access decision's "one of these parameters matches")."""

    criteria: tuple[Criterion, ...]


@dataclass(frozen=True, slots=True)
class Not:
    """Resources that do not match the criterion."""

    criterion: Criterion


Criterion = Clause | Chain | ReverseChain | InCompartment | AllOf | AnyOf | Not


@dataclass(frozen=True, slots=True)
class SortKey:
    param: str
    kind: Kind
    descending: bool


@dataclass(frozen=True, slots=True)
class Include:
    """``_include=source_type:param[:target_type]`` or, reverse, ``_revinclude``; ``:iterate`` repeats."""

    source_type: str
    param: str
    target_type: str | None
    reverse: bool
    iterate: bool


@dataclass(frozen=True, slots=True)
class SearchQuery:
    resource_type: str
    criteria: tuple[Criterion, ...]
    count: int
    cursor: str | None = None
    with_total: bool = True
    sort: tuple[SortKey, ...] = ()
    includes: tuple[Include, ...] = field(default=())


@dataclass(frozen=True, slots=True)
class HistoryQuery:
    resource_type: str | None = None
    resource_id: str | None = None
    since_us: int | None = None
    count: int = 20
    cursor: str | None = None
