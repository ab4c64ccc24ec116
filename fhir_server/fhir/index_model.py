"""Index entries extracted from a resource at write time, one kind per search-parameter type.

Every backend stores these and answers searches from them; nothing else about a
resource is searchable. Dates are inclusive ranges in integer microseconds since the
Unix epoch (UTC), so a date of any precision is comparable to any other.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class TokenEntry:
    """Also carries Reference.identifier values, under the parameter name "<param>:identifier"."""

    param: str
    system: str | None
    code: str | None
    text: str | None = None  # normalised display/text, for :text


@dataclass(frozen=True, slots=True)
class StringEntry:
    param: str
    value: str  # normalised: lower case, accents removed, whitespace collapsed
    raw: str  # as written, for :exact


@dataclass(frozen=True, slots=True)
class DateEntry:
    param: str
    low: int  # first microsecond covered (UTC epoch µs)
    high: int  # last microsecond covered (inclusive)


@dataclass(frozen=True, slots=True)
class ReferenceEntry:
    param: str
    target_type: str | None  # "Patient" for "Patient/123" or an absolute URL ending so
    target_id: str | None
    version: str | None = None
    url: str | None = None  # absolute or canonical URL when the reference is not a local literal


@dataclass(frozen=True, slots=True)
class UriEntry:
    param: str
    value: str


@dataclass(frozen=True, slots=True)
class NumberEntry:
    """A number as the range its precision implies: 2.50 → [2.495, 2.505]."""

    param: str
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class QuantityEntry:
    param: str
    system: str | None
    code: str | None  # the unit code (or the unit text when no code)
    low: float
    high: float


@dataclass(slots=True)
class ResourceIndex:
    tokens: list[TokenEntry] = field(default_factory=list)
    strings: list[StringEntry] = field(default_factory=list)
    dates: list[DateEntry] = field(default_factory=list)
    references: list[ReferenceEntry] = field(default_factory=list)
    uris: list[UriEntry] = field(default_factory=list)
    numbers: list[NumberEntry] = field(default_factory=list)
    quantities: list[QuantityEntry] = field(default_factory=list)
