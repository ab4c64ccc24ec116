"""Parse search URL parameters into a :class:`SearchQuery` (https://hl7.org/fhir/R4/search.html).

Result parameters (``_count``, ``_summary``…) are separated out; unknown parameters are
reported, and rejected only under ``Prefer: handling=strict``.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from fhir_server.errors import BadRequest, Issue
from fhir_server.fhir.dates import parse_date_range
from fhir_server.fhir.search.query import (
    Clause,
    DateValue,
    ReferenceValue,
    SearchQuery,
    SearchValue,
    StringValue,
    TokenValue,
    UriValue,
)
from fhir_server.fhir.search_parameters import SearchParameterRegistry
from fhir_server.fhir.text import normalize_string

RESULT_PARAMETERS = frozenset({"_count", "_cursor", "_total", "_summary", "_elements", "_format", "_pretty"})
DATE_PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})
MODIFIERS = {
    "token": frozenset({"not", "text", "missing"}),
    "string": frozenset({"exact", "contains", "missing"}),
    "date": frozenset({"missing"}),
    "reference": frozenset({"missing"}),
    "uri": frozenset({"below", "above", "missing"}),
    "id": frozenset({"not"}),
    "lastUpdated": frozenset(),
}
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_VALUES = 500  # values in one search, OR and AND together: keeps every query cheap to plan


def _unescape(value: str) -> str:
    return value.replace("\\,", ",").replace("\\|", "|").replace("\\$", "$").replace("\\\\", "\\")


@dataclass
class ParsedSearch:
    query: SearchQuery
    result_params: dict[str, str]
    issues: list[Issue] = field(default_factory=list)
    canonical: list[tuple[str, str]] = field(default_factory=list)
    """The parameters actually applied, for the self link."""


@dataclass(frozen=True)
class SearchParser:
    registry: SearchParameterRegistry
    tz: ZoneInfo
    base_url: str
    default_count: int
    max_count: int

    def parse(self, resource_type: str, params: list[tuple[str, str]], *, strict: bool = False) -> ParsedSearch:
        clauses: list[Clause] = []
        result: dict[str, str] = {}
        issues: list[Issue] = []
        canonical: list[tuple[str, str]] = []
        known = self.registry.supported_for_type(resource_type)
        for key, raw in params:
            name, _, modifier = key.partition(":")
            if name in RESULT_PARAMETERS:
                result[name] = raw
                continue
            kind = self._kind(name, known)
            if kind is None:
                message = f"Unknown or unsupported search parameter '{key}' for {resource_type}: ignored"
                if strict:
                    raise BadRequest(message.replace(": ignored", ""), expression=key)
                issues.append(Issue("not-supported", message, severity="warning", expression=(key,)))
                continue
            clauses.append(self._clause(name, kind, modifier or None, raw, known.get(name)))
            canonical.append((key, raw))
        if sum(len(c.values) for c in clauses) > MAX_VALUES:
            raise BadRequest(f"A search may combine at most {MAX_VALUES} values")
        count = self._count(result.get("_count"))
        total = result.get("_total", "accurate")
        if total not in ("none", "estimate", "accurate"):
            raise BadRequest(f"_total must be none, estimate or accurate, not '{total}'", expression="_total")
        query = SearchQuery(resource_type, tuple(clauses), count, result.get("_cursor"), with_total=total != "none")
        return ParsedSearch(query, result, issues, canonical)

    def _kind(self, name: str, known: dict) -> str | None:
        if name == "_id":
            return "id"
        if name == "_lastUpdated":
            return "lastUpdated"
        param = known.get(name)
        return param.type if param is not None else None

    def _count(self, raw: str | None) -> int:
        if raw is None:
            return self.default_count
        if not raw.isdigit():
            raise BadRequest(f"_count must be a non-negative integer, not '{raw}'", expression="_count")
        return min(int(raw), self.max_count)

    def _clause(self, name: str, kind: str, modifier: str | None, raw: str, param: object) -> Clause:
        allowed = MODIFIERS[kind]
        is_type_modifier = kind == "reference" and modifier is not None and modifier in getattr(param, "targets", ())
        if modifier is not None and modifier not in allowed and not is_type_modifier:
            raise BadRequest(f"Modifier ':{modifier}' is not supported on search parameter '{name}'", expression=name)
        if modifier == "missing":
            if raw not in ("true", "false"):
                raise BadRequest(f"'{name}:missing' takes true or false, not '{raw}'", expression=f"{name}:missing")
            return Clause(name, kind, modifier, (), missing=raw == "true")  # type: ignore[arg-type]
        parts = [_p for _p in _UNESCAPED_COMMA.split(raw)]
        if any(p == "" for p in parts):
            raise BadRequest(f"Empty value in search parameter '{name}'", expression=name)
        values = tuple(self._value(name, kind, modifier, part) for part in parts)
        return Clause(name, kind, modifier, values)  # type: ignore[arg-type]

    def _value(self, name: str, kind: str, modifier: str | None, raw: str) -> SearchValue:
        if kind == "id":
            if not _ID.match(raw):
                raise BadRequest(f"'{raw}' is not a valid resource id in search parameter '{name}'", expression=name)
            return TokenValue(raw, None, False)
        if kind == "token":
            if modifier == "text":
                return TokenValue(normalize_string(_unescape(raw)), None, False)
            pieces = _UNESCAPED_PIPE.split(raw, maxsplit=1)
            if len(pieces) == 1:
                return TokenValue(_unescape(raw), None, False)
            system, code = (_unescape(p) or None for p in pieces)
            return TokenValue(code, system, True)
        if kind == "string":
            text = _unescape(raw)
            return StringValue(normalize_string(text), text)
        if kind in ("date", "lastUpdated"):
            return self._date(name, raw)
        if kind == "reference":
            return self._reference(name, _unescape(raw))
        return UriValue(_unescape(raw))

    def _date(self, name: str, raw: str) -> DateValue:
        prefix = raw[:2] if raw[:2] in DATE_PREFIXES else "eq"
        text = raw[2:] if raw[:2] in DATE_PREFIXES else raw
        try:
            low, high = parse_date_range(text, self.tz)
        except ValueError as exc:
            raise BadRequest(f"Invalid date in search parameter '{name}': {exc}", expression=name) from None
        if prefix == "ap":  # ±10% of the distance to now (https://hl7.org/fhir/R4/search.html#prefix)
            margin = abs(int(time.time() * 1_000_000) - (low + high) // 2) // 10
            low, high = low - margin, high + margin
        return DateValue(prefix, low, high)  # type: ignore[arg-type]

    def _reference(self, name: str, raw: str) -> ReferenceValue:
        value = raw
        if value.startswith(self.base_url + "/"):
            value = value[len(self.base_url) + 1 :]
        elif "://" in value or value.startswith("urn:"):
            return ReferenceValue(None, None, value)
        segments = value.split("/")
        if len(segments) == 1:
            return ReferenceValue(None, value, None)
        if len(segments) in (2, 4) and segments[0][:1].isupper():
            return ReferenceValue(segments[0], segments[1], None)
        raise BadRequest(
            f"'{raw}' in search parameter '{name}' is not a reference this server can search by", expression=name
        )
