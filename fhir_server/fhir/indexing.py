"""Turning a resource into the index entries its search parameters need.

Each supported parameter's expression is evaluated on the resource dict and every value
is converted according to the parameter type and the value's FHIR datatype, recognised
by its JSON shape (https://hl7.org/fhir/R4/search.html, "Search types and FHIR data
types"). _id and _lastUpdated are answered from store columns and not indexed here.
A parameter that cannot be evaluated is logged once and skipped: indexing never fails a write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server.fhir.composite import composite_adder
from fhir_server.fhir.dates import DEFAULT_TZ, parse_date_range, period_range
from fhir_server.fhir.index_model import (
    DateEntry,
    NumberEntry,
    QuantityEntry,
    ReferenceEntry,
    ResourceIndex,
    StringEntry,
    TokenEntry,
    UriEntry,
)
from fhir_server.fhir.numbers import number_range
from fhir_server.fhir.references import ParsedReference, parse_canonical, parse_reference
from fhir_server.fhir.search_parameters import SearchParam, SearchParameterRegistry
from fhir_server.fhir.text import normalize_string

log = logging.getLogger(__name__)

# ContactPoint.system codes (https://hl7.org/fhir/R4/valueset-contact-point-system.html).
CONTACT_SYSTEMS = frozenset({"phone", "fax", "email", "pager", "url", "sms", "other"})
# String parts of HumanName and Address searched by name/address parameters.
STRING_PARTS = (
    "family",
    "given",
    "prefix",
    "suffix",
    "line",
    "city",
    "district",
    "state",
    "postalCode",
    "country",
    "text",
)

Adder = Callable[[ResourceIndex, SearchParam, Any, ZoneInfo], None]


def _text(value: Any) -> str | None:
    return normalize_string(value) or None if isinstance(value, str) else None


def _add_token(index: ResourceIndex, param: SearchParam, value: Any, tz: ZoneInfo) -> None:
    out = index.tokens
    if isinstance(value, bool):
        out.append(TokenEntry(param.code, None, "true" if value else "false"))
    elif isinstance(value, str):
        out.append(TokenEntry(param.code, None, value))
    elif not isinstance(value, dict):
        return
    elif "coding" in value or set(value) <= {"text", "id", "extension"}:  # CodeableConcept
        for coding in value.get("coding", ()):
            if isinstance(coding, dict):
                _add_token(index, param, coding, tz)
        if (text := _text(value.get("text"))) is not None:
            out.append(TokenEntry(param.code, None, None, text))
    elif isinstance(value.get("value"), str):  # Identifier or ContactPoint
        system = value.get("system")
        if system in CONTACT_SYSTEMS or "rank" in value:
            out.append(TokenEntry(param.code, None, value["value"]))
        else:
            kind = value.get("type")
            text = _text(kind.get("text")) if isinstance(kind, dict) else None
            out.append(TokenEntry(param.code, system if isinstance(system, str) else None, value["value"], text))
            for coding in kind.get("coding", ()) if isinstance(kind, dict) else ():  # for :of-type
                if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                    type_system = coding.get("system") if isinstance(coding.get("system"), str) else None
                    out.append(TokenEntry(f"{param.code}:of-type", type_system, f"{coding['code']}|{value['value']}"))
    elif "code" in value or "system" in value:  # Coding
        system, code = value.get("system"), value.get("code")
        out.append(
            TokenEntry(
                param.code,
                system if isinstance(system, str) else None,
                code if isinstance(code, str) else None,
                _text(value.get("display")),
            )
        )


def _add_string(index: ResourceIndex, param: SearchParam, value: Any, tz: ZoneInfo) -> None:
    if isinstance(value, str):
        if normalized := normalize_string(value):
            index.strings.append(StringEntry(param.code, normalized, value))
    elif isinstance(value, dict):  # HumanName, Address
        for part in STRING_PARTS:
            item = value.get(part)
            for text in item if isinstance(item, list) else (item,):
                if isinstance(text, str):
                    _add_string(index, param, text, tz)


def _add_date(index: ResourceIndex, param: SearchParam, value: Any, tz: ZoneInfo) -> None:
    if isinstance(value, str):
        low, high = parse_date_range(value, tz)
    elif isinstance(value, dict) and ("start" in value or "end" in value):  # Period
        low, high = period_range(value.get("start"), value.get("end"), tz)
    elif isinstance(value, dict) and "event" in value:  # Timing
        for event in value["event"]:
            _add_date(index, param, event, tz)
        return
    else:
        return
    index.dates.append(DateEntry(param.code, low, high))


def _add_reference(index: ResourceIndex, param: SearchParam, value: Any, tz: ZoneInfo) -> None:
    parsed: ParsedReference | None
    if isinstance(value, str):  # canonical or uri
        parsed = parse_canonical(value)
    elif not isinstance(value, dict):
        return
    elif "identifier" in value and "reference" not in value:  # a Reference by identifier only
        parsed = None
    elif isinstance(value.get("reference"), str):  # Reference
        declared = value.get("type")
        default = declared if isinstance(declared, str) else param.targets[0] if len(param.targets) == 1 else None
        parsed = parse_reference(value["reference"], default)
    elif isinstance(value.get("resourceType"), str):  # a resource, e.g. Bundle.entry[0].resource
        parsed = ParsedReference(value["resourceType"], value.get("id"), None, None)
    else:
        return
    if parsed is not None:
        index.references.append(ReferenceEntry(param.code, *parsed))
    identifier = value.get("identifier") if isinstance(value, dict) else None
    if isinstance(identifier, dict) and isinstance(identifier.get("value"), str):  # for :identifier
        system = identifier.get("system")
        index.tokens.append(
            TokenEntry(f"{param.code}:identifier", system if isinstance(system, str) else None, identifier["value"])
        )


def _add_uri(index: ResourceIndex, param: SearchParam, value: Any, tz: ZoneInfo) -> None:
    if isinstance(value, str) and value:
        index.uris.append(UriEntry(param.code, value))


def _add_number(index: ResourceIndex, param: SearchParam, value: Any, tz: ZoneInfo) -> None:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        index.numbers.append(NumberEntry(param.code, *number_range(value)))


def _add_quantity(index: ResourceIndex, param: SearchParam, value: Any, tz: ZoneInfo) -> None:
    """Quantity (and Age, Duration, …) by value; Range by its low and high."""
    if not isinstance(value, dict):
        return
    if "low" in value or "high" in value:
        bound = value.get("low") or value.get("high") or {}
        low = value.get("low", {}).get("value", float("-inf"))
        high = value.get("high", {}).get("value", float("inf"))
        system, code = bound.get("system"), bound.get("code") or bound.get("unit")
        index.quantities.append(QuantityEntry(param.code, system, code, float(low), float(high)))
    elif isinstance(value.get("value"), int | float):
        low, high = number_range(value["value"])
        code = value.get("code") or value.get("unit")
        index.quantities.append(QuantityEntry(param.code, value.get("system"), code, low, high))


ADDERS: dict[str, Adder] = {
    "token": _add_token,
    "string": _add_string,
    "date": _add_date,
    "reference": _add_reference,
    "uri": _add_uri,
    "number": _add_number,
    "quantity": _add_quantity,
}


class IndexExtractor:
    """Extracts a ResourceIndex from resource dicts using a registry's supported parameters."""

    def __init__(self, registry: SearchParameterRegistry, tz: ZoneInfo = DEFAULT_TZ) -> None:
        self._registry = registry
        self._tz = tz
        self._plans: dict[str, tuple[Mapping[str, SearchParam], list[tuple[SearchParam, Adder]]]] = {}
        self._failed: set[tuple[str, str]] = set()

    def _plan(self, resource_type: str) -> list[tuple[SearchParam, Adder]]:
        params = self._registry.supported_for_type(resource_type)
        cached = self._plans.get(resource_type)
        if cached is None or cached[0] is not params:  # the registry view changes on add()
            plan = [
                (p, composite_adder(p, self._registry) if p.type == "composite" else ADDERS[p.type])
                for p in params.values()
                if not p.column and p.evaluator is not None
            ]
            cached = self._plans[resource_type] = (params, plan)
        return cached[1]

    def extract(self, resource: dict[str, Any]) -> ResourceIndex:
        """Index entries for every supported, non-column search parameter of the resource's type."""
        index = ResourceIndex()
        resource_type = resource.get("resourceType")
        if not isinstance(resource_type, str):
            return index
        tz = self._tz
        for param, add in self._plan(resource_type):
            try:
                for value in param.evaluator(resource):  # type: ignore[misc]  # plans keep evaluators only
                    try:
                        add(index, param, value, tz)
                    except ValueError as exc:  # malformed data, e.g. a bad date: skip the value
                        log.debug("%s.%s: value %r not indexed: %s", resource_type, param.code, value, exc)
            except Exception:  # never fail a write because of one parameter
                self._log_once(resource_type, param)
        for name in ("tokens", "strings", "dates", "references", "uris", "numbers", "quantities"):
            entries = getattr(index, name)
            if len(entries) > 1:
                setattr(index, name, list(dict.fromkeys(entries)))
        return index

    def _log_once(self, resource_type: str, param: SearchParam) -> None:
        key = (resource_type, param.code)
        if key not in self._failed:
            self._failed.add(key)
            log.exception("search parameter %s.%s cannot be indexed; skipped", resource_type, param.code)
