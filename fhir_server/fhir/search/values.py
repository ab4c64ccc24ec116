"""Parse one search value by parameter type (https://hl7.org/fhir/R4/search.html#ptypes).

Every function raises :class:`BadRequest` naming the parameter when the value is malformed.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from zoneinfo import ZoneInfo

from fhir_server.errors import BadRequest
from fhir_server.fhir.dates import parse_date_range
from fhir_server.fhir.numbers import number_range
from fhir_server.fhir.search.query import (
    Prefix,
    QuantityValue,
    RangeValue,
    ReferenceValue,
    StringValue,
    TokenValue,
    UriValue,
)
from fhir_server.fhir.text import normalize_string

_DAY_US = 86_400_000_000
PREFIXES = frozenset({"eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap"})
_UNESCAPED_COMMA = re.compile(r"(?<!\\),")
_UNESCAPED_PIPE = re.compile(r"(?<!\\)\|")
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")

ValueSetExpander = Callable[[str], frozenset[tuple[str | None, str]]]


def unescape(value: str) -> str:
    return value.replace("\\,", ",").replace("\\|", "|").replace("\\$", "$").replace("\\\\", "\\")


def split_or(raw: str) -> list[str]:
    return _UNESCAPED_COMMA.split(raw)


def split_dollar(raw: str) -> list[str]:
    return _UNESCAPED_DOLLAR.split(raw)


def split_pipe(raw: str, maxsplit: int = 1) -> list[str]:
    return _UNESCAPED_PIPE.split(raw, maxsplit=maxsplit)


def _prefixed(raw: str) -> tuple[Prefix, str]:
    if raw[:2] in PREFIXES:
        return raw[:2], raw[2:]  # type: ignore[return-value]
    return "eq", raw


def resource_id(name: str, raw: str) -> TokenValue:
    if not _ID.match(raw):
        raise BadRequest(f"'{raw}' is not a valid resource id in search parameter '{name}'", expression=name)
    return TokenValue(raw, None, False)


def token(name: str, raw: str, modifier: str | None) -> TokenValue:
    if modifier == "text":
        return TokenValue(normalize_string(unescape(raw)), None, False)
    if modifier == "of-type":
        parts = split_pipe(raw, maxsplit=2)
        if len(parts) != 3 or not all(parts[1:]):
            raise BadRequest(f"'{name}:of-type' takes system|code|value, not '{raw}'", expression=name)
        system, code, value = (unescape(p) for p in parts)
        return TokenValue(f"{code}|{value}", system or None, True)
    pieces = split_pipe(raw)
    if len(pieces) == 1:
        return TokenValue(unescape(raw), None, False)
    system, code = (unescape(p) or None for p in pieces)
    return TokenValue(code, system, True)


def string(raw: str) -> StringValue:
    text = unescape(raw)
    return StringValue(normalize_string(text), text)


def date(name: str, raw: str, tz: ZoneInfo) -> RangeValue:
    prefix, text = _prefixed(raw)
    try:
        low, high = parse_date_range(text, tz)
    except ValueError as exc:
        raise BadRequest(f"Invalid date in search parameter '{name}': {exc}", expression=name) from None
    if prefix == "ap":  # ±10% of the distance to now, at least a day (https://hl7.org/fhir/R4/search.html#prefix)
        margin = max(abs(int(time.time() * 1_000_000) - (low + high) // 2) // 10, _DAY_US)
        low, high = low - margin, high + margin
    return RangeValue(prefix, low, high)


def number(name: str, raw: str) -> RangeValue:
    prefix, text = _prefixed(raw)
    try:
        low, high = number_range(text)
    except ValueError as exc:
        raise BadRequest(f"Invalid number in search parameter '{name}': {exc}", expression=name) from None
    if prefix == "ap":  # ±10% of the value
        margin = abs(low + high) / 20
        low, high = low - margin, high + margin
    return RangeValue(prefix, low, high)


def quantity(name: str, raw: str) -> QuantityValue:
    """``[prefix]number|system|code`` (system and code optional)."""
    parts = split_pipe(raw, maxsplit=2)
    value = number(name, parts[0])
    system = unescape(parts[1]) or None if len(parts) > 1 else None
    code = unescape(parts[2]) or None if len(parts) > 2 else None
    return QuantityValue(value.prefix, value.low, value.high, system, code)


def reference(name: str, raw: str, base_url: str) -> ReferenceValue:
    value = unescape(raw)
    if value.startswith(base_url + "/"):
        value = value[len(base_url) + 1 :]
    elif "://" in value or value.startswith("urn:"):
        return ReferenceValue(None, None, value)
    segments = value.split("/")
    if len(segments) == 1 and _ID.match(value):
        return ReferenceValue(None, value, None)
    if len(segments) in (2, 4) and segments[0][:1].isupper() and _ID.match(segments[1]):
        return ReferenceValue(segments[0], segments[1], None)
    raise BadRequest(
        f"'{raw}' in search parameter '{name}' is not a reference this server can search by", expression=name
    )


def uri(raw: str) -> UriValue:
    return UriValue(unescape(raw))
