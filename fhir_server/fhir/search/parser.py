"""Parse search URL parameters into a :class:`SearchQuery` (https://hl7.org/fhir/R4/search.html).

Result parameters (``_count``, ``_sort``, ``_include``…) are separated out; unknown
parameters are reported, and rejected only under ``Prefer: handling=strict``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from fhir_server.errors import BadRequest, FhirError, Issue
from fhir_server.fhir.search import values as parse_value
from fhir_server.fhir.search.query import (
    Chain,
    Clause,
    CodeSetValue,
    Criterion,
    Include,
    ReverseChain,
    SearchQuery,
    SearchValue,
    SortKey,
    TokenValue,
)
from fhir_server.fhir.search.values import ValueSetExpander
from fhir_server.fhir.search_parameters import SearchParam, SearchParameterRegistry
from fhir_server.fhir.text import ascii_digits, normalize_string

RESULT_PARAMETERS = frozenset(
    {"_count", "_cursor", "_total", "_summary", "_elements", "_format", "_pretty", "_sort", "_contained"}
)
INCLUDE_PARAMETERS = frozenset({"_include", "_revinclude"})
MODIFIERS = {
    "token": frozenset({"not", "text", "missing", "of-type", "in", "not-in"}),
    "string": frozenset({"exact", "contains", "missing"}),
    "date": frozenset({"missing"}),
    "reference": frozenset({"missing", "identifier"}),
    "uri": frozenset({"below", "above", "missing"}),
    "number": frozenset({"missing"}),
    "quantity": frozenset({"missing"}),
    "composite": frozenset({"missing"}),
    "id": frozenset({"not"}),
    "lastUpdated": frozenset(),
}


@dataclass(frozen=True)
class SearchLimits:
    """What one search may cost (settings ``max_search_values``, ``max_chain_depth``,
    ``max_included``): beyond the first two it is refused (400), the third cuts its includes."""

    max_values: int
    """Values in one search, OR and AND together: keeps every query cheap to plan."""
    max_depth: int
    """Levels of chaining and ``_has``."""
    max_included: int
    """Resources one ``_include``/``_revinclude`` parameter brings per step."""


class UnknownParameter(Exception):
    """A parameter the server does not know: reported (lenient) or rejected (strict) by the caller."""


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
    limits: SearchLimits
    supported_types: frozenset[str] = frozenset()
    expand_valueset: ValueSetExpander | None = None

    def parse(self, resource_type: str, params: list[tuple[str, str]], *, strict: bool = False) -> ParsedSearch:
        criteria: list[Criterion] = []
        result: dict[str, str] = {}
        includes: list[Include] = []
        issues: list[Issue] = []
        canonical: list[tuple[str, str]] = []
        for key, raw in params:
            name = key.partition(":")[0]
            if name in RESULT_PARAMETERS:
                result[name] = raw
                continue
            try:
                if name in INCLUDE_PARAMETERS:
                    includes.extend(self._includes(resource_type, key, raw))
                else:
                    criteria.append(self._criterion(resource_type, key, raw, depth=0))
            except UnknownParameter as exc:
                if strict:
                    raise BadRequest(str(exc), expression=key) from None
                issues.append(Issue("not-supported", f"{exc}: ignored", severity="warning", expression=(key,)))
                continue
            canonical.append((key, raw))
        if _count_values(criteria) > self.limits.max_values:
            raise BadRequest(f"A search may combine at most {self.limits.max_values} values")
        if result.get("_contained", "false") != "false":
            raise BadRequest(
                "_contained=true|both is not supported: contained resources are not searched", expression="_contained"
            )
        total = result.get("_total", "accurate")
        if total not in ("none", "estimate", "accurate"):
            raise BadRequest(f"_total must be none, estimate or accurate, not '{total}'", expression="_total")
        query = SearchQuery(
            resource_type,
            tuple(criteria),
            self._count(result.get("_count")),
            result.get("_cursor"),
            with_total=total != "none",
            sort=self._sort(resource_type, result.get("_sort")),
            includes=tuple(includes),
        )
        return ParsedSearch(query, result, issues, canonical)

    # -- criteria ----------------------------------------------------------------------------

    def _criterion(self, resource_type: str, key: str, raw: str, depth: int) -> Criterion:
        if depth > self.limits.max_depth:
            raise BadRequest(f"'{key}' chains more than {self.limits.max_depth} levels", expression=key)
        if key.startswith("_has:"):
            return self._reverse_chain(resource_type, key, raw, depth)
        head, dot, tail = key.partition(".")
        name, _, modifier = head.partition(":")
        if dot:
            return self._chain(resource_type, name, modifier or None, tail, raw, depth)
        return self._clause(resource_type, name, modifier or None, raw)

    def _param(self, resource_type: str, name: str) -> SearchParam:
        param = self.registry.supported_for_type(resource_type).get(name)
        if param is None:
            raise UnknownParameter(f"Unknown or unsupported search parameter '{name}' for {resource_type}")
        return param

    def _chain(self, resource_type: str, name: str, target: str | None, tail: str, raw: str, depth: int) -> Chain:
        param = self._param(resource_type, name)
        if param.type != "reference":
            raise BadRequest(f"'{name}' is not a reference parameter and cannot be chained", expression=name)
        candidates = (target,) if target else param.targets or tuple(sorted(self.supported_types))
        if target and target not in (param.targets or (target,)):
            raise BadRequest(f"'{name}' cannot refer to {target}", expression=f"{name}:{target}")
        branches = []
        for target_type in candidates:
            if target_type not in self.supported_types:
                continue
            try:
                branches.append((target_type, self._criterion(target_type, tail, raw, depth + 1)))
            except UnknownParameter:
                continue
        if not branches:
            raise UnknownParameter(f"No target type of '{name}' has a search parameter '{tail}'")
        return Chain(name, tuple(branches))

    def _reverse_chain(self, resource_type: str, key: str, raw: str, depth: int) -> ReverseChain:
        parts = key.split(":", 3)
        if len(parts) != 4 or not all(parts[1:]):
            raise BadRequest(f"'{key}' must read _has:Type:reference:parameter", expression=key)
        _, source_type, ref_name, rest = parts
        if source_type not in self.supported_types:
            raise UnknownParameter(f"_has names the unsupported type '{source_type}'")
        param = self._param(source_type, ref_name)
        if param.type != "reference" or (param.targets and resource_type not in param.targets):
            raise BadRequest(f"{source_type}.{ref_name} does not refer to {resource_type}", expression=key)
        return ReverseChain(source_type, ref_name, self._criterion(source_type, rest, raw, depth + 1))

    def _clause(self, resource_type: str, name: str, modifier: str | None, raw: str) -> Clause:
        kind = "id" if name == "_id" else "lastUpdated" if name == "_lastUpdated" else None
        param = None if kind else self._param(resource_type, name)
        kind = kind or param.type  # type: ignore[union-attr]
        is_type_modifier = kind == "reference" and modifier is not None and modifier[:1].isupper()
        if modifier is not None and modifier not in MODIFIERS[kind] and not is_type_modifier:
            raise BadRequest(f"Modifier ':{modifier}' is not supported on search parameter '{name}'", expression=name)
        if is_type_modifier and param is not None and param.targets and modifier not in param.targets:
            raise BadRequest(f"'{name}' cannot refer to {modifier}", expression=f"{name}:{modifier}")
        if modifier == "missing":
            if raw not in ("true", "false"):
                raise BadRequest(f"'{name}:missing' takes true or false, not '{raw}'", expression=f"{name}:missing")
            return Clause(name, kind, modifier, (), missing=raw == "true")  # type: ignore[arg-type]
        parts = parse_value.split_or(raw)
        if any(p == "" for p in parts):
            raise BadRequest(f"Empty value in search parameter '{name}'", expression=name)
        if modifier == "identifier":  # reference:identifier is a token search on Reference.identifier
            values = tuple(parse_value.token(name, p, None) for p in parts)
            return Clause(f"{name}:identifier", "token", None, values)
        if modifier == "of-type":
            values = tuple(parse_value.token(name, p, modifier) for p in parts)
            return Clause(f"{name}:of-type", "token", None, values)
        values = tuple(self._value(resource_type, name, kind, modifier, p) for p in parts)
        return Clause(name, kind, modifier, values)  # type: ignore[arg-type]

    def _composite(self, resource_type: str, name: str, raw: str) -> TokenValue:
        """``part1$part2``, each part written as its component parameter's type allows."""
        param = self._param(resource_type, name)
        parts = parse_value.split_dollar(raw)
        if len(parts) != len(param.components):
            raise BadRequest(f"'{name}' takes {len(param.components)} values joined by '$'", expression=name)
        forms = []
        for (url, _), part in zip(param.components, parts, strict=True):
            component = self.registry.by_url(url)
            text = parse_value.unescape(part)
            forms.append(normalize_string(text) if component is not None and component.type == "string" else text)
        return TokenValue("$".join(forms), None, False)

    def _value(self, resource_type: str, name: str, kind: str, modifier: str | None, raw: str) -> SearchValue:
        if kind == "id":
            return parse_value.resource_id(name, raw)
        if kind == "token":
            if modifier in ("in", "not-in"):
                return self._code_set(name, raw)
            return parse_value.token(name, raw, modifier)
        if kind == "string":
            return parse_value.string(raw)
        if kind in ("date", "lastUpdated"):
            return parse_value.date(name, raw, self.tz)
        if kind == "number":
            return parse_value.number(name, raw)
        if kind == "quantity":
            return parse_value.quantity(name, raw)
        if kind == "reference":
            return parse_value.reference(name, raw, self.base_url)
        if kind == "composite":
            return self._composite(resource_type, name, raw)
        return parse_value.uri(raw)

    def _code_set(self, name: str, url: str) -> CodeSetValue:
        if self.expand_valueset is None:
            raise BadRequest(f"'{name}:in' needs the terminology service, which is not loaded", expression=name)
        try:
            return CodeSetValue(self.expand_valueset(parse_value.unescape(url)))
        except FhirError as exc:  # unknown or unexpandable ValueSet: the search is malformed
            raise BadRequest(f"'{name}' ValueSet {url}: {exc}", expression=name) from None

    # -- result parameters -------------------------------------------------------------------

    def _count(self, raw: str | None) -> int:
        if raw is None:
            return self.default_count
        if not ascii_digits(raw):
            raise BadRequest(f"_count must be a non-negative integer, not '{raw}'", expression="_count")
        return min(int(raw), self.max_count)

    def _sort(self, resource_type: str, raw: str | None) -> tuple[SortKey, ...]:
        if not raw:
            return ()
        keys = []
        for item in raw.split(","):
            descending = item.startswith("-")
            name = item.lstrip("-")
            if name in ("_id", "_lastUpdated"):
                keys.append(SortKey(name, "id" if name == "_id" else "lastUpdated", descending))
                continue
            param = self.registry.supported_for_type(resource_type).get(name)
            if param is None:
                raise BadRequest(f"_sort: '{name}' is not a search parameter of {resource_type}", expression="_sort")
            keys.append(SortKey(name, param.type, descending))  # type: ignore[arg-type]
        return tuple(keys)

    def _includes(self, resource_type: str, key: str, raw: str) -> list[Include]:
        name, _, modifier = key.partition(":")
        if modifier not in ("", "iterate", "recurse"):
            raise BadRequest(f"'{key}': only the :iterate modifier is supported", expression=key)
        reverse = name == "_revinclude"
        iterate = modifier in ("iterate", "recurse")
        if raw == "*" and not reverse:
            params = self.registry.supported_for_type(resource_type).values()
            return [Include(resource_type, p.code, None, False, iterate) for p in params if p.type == "reference"]
        parts = raw.split(":")
        if len(parts) not in (2, 3) or not all(parts):
            raise BadRequest(f"{name} takes Type:parameter[:targetType], not '{raw}'", expression=name)
        source_type, param_name = parts[0], parts[1]
        target_type = parts[2] if len(parts) == 3 else None
        if source_type not in self.supported_types:
            raise UnknownParameter(f"{name} names the unsupported type '{source_type}'")
        param = self._param(source_type, param_name)
        if param.type != "reference":
            raise BadRequest(f"{name}: '{param_name}' is not a reference parameter of {source_type}", expression=name)
        if not reverse and not iterate and source_type != resource_type:
            raise BadRequest(
                f"_include must start with the searched type {resource_type} (or use :iterate)", expression=name
            )
        return [Include(source_type, param_name, target_type, reverse, iterate)]


def _count_values(criteria: list[Criterion] | tuple[Criterion, ...]) -> int:
    total = 0
    for criterion in criteria:
        if isinstance(criterion, Clause):
            total += len(criterion.values)
        elif isinstance(criterion, Chain):
            total += _count_values([inner for _, inner in criterion.branches])
        else:
            total += _count_values([criterion.inner])
    return total
