"""``_summary`` and ``_elements`` (https://hl7.org/fhir/R4/search.html#summary).

Which top-level elements are summary or mandatory comes from the fhir.resources models,
computed once per type.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from fhir_server.errors import BadRequest
from fhir_server.fhir.validation import model_class

SUBSETTED = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}
SUMMARY_MODES = frozenset({"true", "false", "text", "data", "count"})
_ALWAYS = ("resourceType", "id", "meta")


@cache
def _elements_of(resource_type: str) -> tuple[frozenset[str], frozenset[str]]:
    """(summary elements, mandatory elements) of a type, by their JSON names, with _ twins."""
    summary: set[str] = set()
    mandatory: set[str] = set()
    for name, info in model_class(resource_type).model_fields.items():
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        json_name = info.alias or name
        names = {json_name, "_" + json_name}
        if extra.get("summary_element_property"):
            summary |= names
        if extra.get("element_required") or info.is_required():
            mandatory |= names
    return frozenset(summary), frozenset(mandatory)


def _tagged(resource: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    meta = dict(resource.get("meta") or {})
    meta["tag"] = [*meta.get("tag", []), SUBSETTED]
    kept["meta"] = meta
    return kept


def subset(resource: dict[str, Any], summary: str | None, elements: str | None) -> dict[str, Any]:
    """The resource reduced as the client asked; the original when nothing is asked."""
    if summary in (None, "false") and not elements:
        return resource
    rtype = resource.get("resourceType", "")
    summary_names, mandatory = _elements_of(rtype) if rtype else (frozenset(), frozenset())
    if summary == "true":
        keep = summary_names | mandatory
    elif summary == "text":
        keep = frozenset({"text"}) | mandatory
    elif summary == "data":
        keep = frozenset(k for k in resource if k != "text")
    else:
        wanted = {e.strip() for e in (elements or "").split(",") if e.strip()}
        keep = frozenset(wanted | {"_" + w for w in wanted}) | mandatory
    kept = {k: v for k, v in resource.items() if k in _ALWAYS or k in keep}
    return _tagged(resource, kept)


def check_summary(value: str | None) -> None:
    if value is not None and value not in SUMMARY_MODES:
        raise BadRequest(
            f"_summary must be one of {', '.join(sorted(SUMMARY_MODES))}, not '{value}'", expression="_summary"
        )
