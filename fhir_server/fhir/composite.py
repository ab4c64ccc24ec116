"""Composite search parameters (https://hl7.org/fhir/R4/search.html#composite).

Each combination of component values is indexed as one token ``part1$part2``; a token
part is indexed both as ``code`` and ``system|code``, a reference as ``Type/id`` and
``id``, so that a search value matches whichever form the client writes. Components of
other types (quantity, date, number) are not supported: such parameters are not offered.
"""

from __future__ import annotations

import itertools
from typing import Any
from zoneinfo import ZoneInfo

from fhir_server.fhir.expressions import relative_evaluator
from fhir_server.fhir.index_model import ResourceIndex, TokenEntry
from fhir_server.fhir.references import parse_reference
from fhir_server.fhir.search_parameters import SearchParam, SearchParameterRegistry
from fhir_server.fhir.text import normalize_string


def _token_forms(value: Any) -> set[str]:
    if isinstance(value, str | bool):
        return {str(value).lower() if isinstance(value, bool) else value}
    if not isinstance(value, dict):
        return set()
    if "coding" in value:
        return set().union(*(_token_forms(c) for c in value["coding"] if isinstance(c, dict)))
    code = value.get("code") or value.get("value")
    if not isinstance(code, str):
        return set()
    system = value.get("system")
    return {code, f"{system}|{code}"} if isinstance(system, str) else {code, f"|{code}"}


def _reference_forms(value: Any) -> set[str]:
    text = value.get("reference") if isinstance(value, dict) else value
    parsed = parse_reference(text) if isinstance(text, str) else None
    if parsed is None or parsed.target_id is None:
        return {parsed.url} if parsed is not None and parsed.url else set()
    return {parsed.target_id, f"{parsed.target_type}/{parsed.target_id}"} if parsed.target_type else {parsed.target_id}


def component_forms(kind: str, value: Any) -> set[str]:
    if kind == "token":
        return _token_forms(value)
    if kind == "reference":
        return _reference_forms(value)
    if kind == "string":
        return {normalize_string(value)} if isinstance(value, str) else set()
    return {value} if isinstance(value, str) else set()


def composite_adder(param: SearchParam, registry: SearchParameterRegistry):  # noqa: ANN201 - an indexing.Adder
    parts = [(registry.by_url(url), relative_evaluator(expression)) for url, expression in param.components]

    def add(index: ResourceIndex, _: SearchParam, value: Any, tz: ZoneInfo) -> None:
        if not isinstance(value, dict):
            return
        alternatives: list[list[str]] = []
        for component, evaluate in parts:
            forms: set[str] = set()
            for item in evaluate(value):
                forms |= component_forms(getattr(component, "type", ""), item)
            if not forms:
                return
            alternatives.append(sorted(forms))
        for combination in itertools.product(*alternatives):
            index.tokens.append(TokenEntry(param.code, None, "$".join(combination)))

    return add
