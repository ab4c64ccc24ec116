"""Hypothesis: the search-parameter parser refuses bad input only with our FhirError types
(a 4xx OperationOutcome), never with any other exception (a 500), whatever the names,
modifiers, chains and values (issue 11.3)."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_kit import SCALE, property_settings

from fhir_server.config import Settings
from fhir_server.errors import FhirError
from fhir_server.fhir.resource_types import SUPPORTED_TYPES
from fhir_server.fhir.search.parser import (
    INCLUDE_PARAMETERS,
    MODIFIERS,
    RESULT_PARAMETERS,
    SearchLimits,
    SearchParser,
)
from fhir_server.fhir.search_parameters import SearchParameterRegistry
from fhir_server.terminology import TerminologyService

REGISTRY = SearchParameterRegistry.load_default()
TYPES = sorted(SUPPORTED_TYPES)
NAMES = sorted({name for t in TYPES for name in REGISTRY.supported_for_type(t)} | {"_id", "_lastUpdated", "_has"})
SPECIAL = ",|$\\:.=&%*-_ \x00é😀"
PREFIXES = ("", "eq", "ne", "gt", "lt", "ge", "le", "sa", "eb", "ap", "xx")

texts = st.text(alphabet=st.sampled_from("abcXYZ0129" + SPECIAL), max_size=30)
modifiers = st.sampled_from(sorted({m for ms in MODIFIERS.values() for m in ms} | set(TYPES) | {"iterate", "bogus"}))
numbers = st.one_of(
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.builds(
        "{}e{}".format,
        st.integers(-99, 99),
        st.one_of(st.integers(-400, 400), st.integers(10**6, 10**12), st.integers(-(10**12), -(10**6))),
    ),
)
dates = st.builds(
    "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}{}".format,
    st.integers(0, 9999),
    st.integers(0, 13),
    st.integers(0, 32),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["", "Z", "+01:00", "-14:00", "+15:00", "+02:60", ".5Z", ".1234567+01:00"]),
).flatmap(lambda full: st.integers(1, len(full)).map(lambda n: full[:n]))
values = st.one_of(
    texts,
    st.tuples(st.sampled_from(PREFIXES), st.one_of(numbers, dates)).map("".join),
    st.tuples(numbers, st.sampled_from(["", "|", "|http://unitsofmeasure.org|mg", "||kg"])).map("".join),
    st.tuples(st.sampled_from(TYPES + ["", "x"]), st.just("/"), texts).map("".join),
    st.lists(texts, min_size=1, max_size=4).map(",".join),
    st.text(max_size=20),
)


def own_names(resource_type: str) -> list[str]:
    return sorted(REGISTRY.supported_for_type(resource_type)) + ["_id", "_lastUpdated"]


@st.composite
def keys(draw: st.DrawFn, resource_type: str, depth: int = 0) -> str:
    """A parameter name as a client could write it: name[:modifier][.chain], _has:…, a result
    parameter, or noise; mostly names the type has, so that values get parsed."""
    kind = draw(st.integers(0, 7))
    if kind == 0:
        return draw(st.sampled_from(sorted(RESULT_PARAMETERS | INCLUDE_PARAMETERS)))
    if kind == 1:
        return draw(st.text(max_size=15))
    name = draw(st.sampled_from(NAMES if kind == 2 else own_names(resource_type)))
    if draw(st.booleans()):
        name += ":" + draw(modifiers)
    target = draw(st.sampled_from(TYPES))
    if kind == 3 and depth < 6:
        return f"{name}.{draw(keys(target, depth + 1))}"
    if kind == 4 and depth < 6:
        return f"_has:{target}:{draw(st.sampled_from(own_names(target)))}:{draw(keys(target, depth + 1))}"
    return name


@st.composite
def searches(draw: st.DrawFn) -> tuple[str, list[tuple[str, str]]]:
    resource_type = draw(st.sampled_from(TYPES))
    return resource_type, draw(st.lists(st.tuples(keys(resource_type), values), max_size=6))


BY_KIND: dict[str, list[tuple[str, str]]] = {}
for _type in TYPES:
    for _name, _param in REGISTRY.supported_for_type(_type).items():
        BY_KIND.setdefault(_param.type, []).append((_type, _name))
one_parameter = st.sampled_from(sorted(BY_KIND)).flatmap(lambda kind: st.sampled_from(BY_KIND[kind]))


@pytest.fixture(scope="module")
def parser() -> SearchParser:
    settings = Settings()
    terminology = TerminologyService.load(settings.terminology_dir)
    return SearchParser(
        REGISTRY,
        ZoneInfo("Europe/Luxembourg"),
        "http://127.0.0.1:8080",
        20,
        1000,
        SearchLimits(settings.max_search_values, settings.max_chain_depth, settings.max_included),
        supported_types=frozenset(SUPPORTED_TYPES),
        expand_valueset=lambda url: frozenset(terminology.members(url)),
    )


@property_settings(SCALE.property_examples * 5)
@given(search=searches(), strict=st.booleans())
def test_parser_raises_only_fhir_errors(parser: SearchParser, search: tuple[str, list[tuple[str, str]]], strict: bool):
    resource_type, params = search
    try:
        parsed = parser.parse(resource_type, params, strict=strict)
    except FhirError as exc:
        assert 400 <= exc.status < 500, exc
        assert exc.issues and all(issue.diagnostics for issue in exc.issues)
        return
    assert 0 <= parsed.query.count <= parser.max_count
    assert parsed.query.resource_type == resource_type


@property_settings(SCALE.property_examples * 20)
@given(target=one_parameter, modifier=st.one_of(st.none(), modifiers), value=values)
def test_every_parameter_type_parses_or_refuses(parser: SearchParser, target: tuple[str, str], modifier, value: str):
    """One parameter of each search type (number, quantity, date… equally often) with any value."""
    resource_type, name = target
    key = name if modifier is None else f"{name}:{modifier}"
    try:
        parser.parse(resource_type, [(key, value)], strict=True)
    except FhirError as exc:
        assert 400 <= exc.status < 500, exc


@property_settings(SCALE.property_examples)
@given(raw=st.text(max_size=12))
def test_count_is_clamped_or_refused(parser: SearchParser, raw: str):
    """``_count``: a non-negative integer, capped at the maximum page size (as HAPI and Firely
    do); anything else is a 400."""
    try:
        parsed = parser.parse("Patient", [("_count", raw)])
    except FhirError as exc:
        assert exc.status == 400
        return
    assert raw.isdigit() and parsed.query.count == min(int(raw), parser.max_count)
