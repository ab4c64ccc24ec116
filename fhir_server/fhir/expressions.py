"""Evaluation of SearchParameter expressions (FHIRPath) on resources held as JSON dicts.

The R4 expressions are unions of short paths, one per base type. The shapes used by
the specification are evaluated directly, which is an order of magnitude faster than a
general FHIRPath engine:

    Type.a.b[0].c                  child navigation, JSON arrays flattened
    Type.a.as(T), (Type.a as T)    choice element a[x] narrowed to T (key "aT")
    Type.a.ofType(T)               same as .as(T)
    Type.a.where(resolve() is T)   references whose target type is T
    Type.a.where(b='literal')      elements whose b equals the literal

Anything else is compiled with fhirpathpy (R4 model) on first use. Only the parts
whose root is the resource's type (or Resource/DomainResource) are evaluated.
See https://hl7.org/fhir/R4/fhirpath.html and https://hl7.org/fhir/R4/search.html.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

from fhir_server.fhir.references import parse_reference

log = logging.getLogger(__name__)

GENERIC_ROOTS = ("Resource", "DomainResource")
_ROOT = re.compile(r"[A-Z][A-Za-z]*")
_STEP = re.compile(
    r"\.(?:"
    r"(?:as|ofType)\((?P<cast>[A-Za-z]+)\)"
    r"|where\(resolve\(\) is (?P<resolve>[A-Z][A-Za-z]+)\)"
    r"|where\((?P<field>[a-z][A-Za-z]*)\s*=\s*'(?P<literal>[^'\\]*)'\)"
    r"|(?P<name>[a-z][A-Za-z0-9]*)(?:\[(?P<index>\d+)\])?"
    r")"
)
_OUTER_CAST = re.compile(r"\((?P<path>[^()]+) as (?P<cast>[A-Za-z]+)\)")

# Type suffixes of choice elements name[x] (https://hl7.org/fhir/R4/datatypes.html#open).
CHOICE_SUFFIXES = frozenset(
    "Base64Binary Boolean Canonical Code Date DateTime Decimal Id Instant Integer Markdown Oid "
    "PositiveInt String Time UnsignedInt Uri Url Uuid Address Age Annotation Attachment "
    "CodeableConcept Coding ContactPoint Count Distance Duration HumanName Identifier Money "
    "Period Quantity Range Ratio Reference SampledData Signature Timing ContactDetail "
    "Contributor DataRequirement Expression ParameterDefinition RelatedArtifact "
    "TriggerDefinition UsageContext Dosage Meta".split()
)

Values = list[Any]
PathFn = Callable[[dict[str, Any]], Values]


def split_union(expression: str) -> list[str]:
    """Top-level operands of '|' (outside parentheses and string literals)."""
    parts, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(expression):
        if ch == "'":
            quoted = not quoted
        elif quoted:
            continue
        elif ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif ch == "|" and depth == 0:
            parts.append(expression[start:i].strip())
            start = i + 1
    parts.append(expression[start:].strip())
    return [p for p in parts if p]


def _child(items: Values, name: str) -> Values:
    out: Values = []
    for item in items:
        if not isinstance(item, dict):
            continue
        value = item.get(name)
        if value is None:
            continue
        if isinstance(value, list):
            out.extend(v for v in value if v is not None)
        else:
            out.append(value)
    return out


def _choice(items: Values, name: str) -> Values:
    """Children of an un-narrowed choice element name[x], whatever their type suffix."""
    out: Values = []
    size = len(name)
    for item in items:
        if not isinstance(item, dict):
            continue
        for key, value in item.items():
            if key.startswith(name) and key[size:] in CHOICE_SUFFIXES:
                out.extend(value if isinstance(value, list) else [value])
    return out


def _reference_type(item: Any) -> str | None:
    if not isinstance(item, dict):
        return None
    text = item.get("reference")
    parsed = parse_reference(text) if isinstance(text, str) else None
    if parsed is not None and parsed.target_type is not None:
        return parsed.target_type
    declared = item.get("type")
    return declared if isinstance(declared, str) else None


def _compile_steps(path: str) -> list[Callable[[Values], Values]] | None:
    """Step functions for a simple path (root already removed), or None if not simple."""
    steps: list[tuple[str, str, str | None]] = []
    pos = 0
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            return None
        pos = m.end()
        if m["cast"]:
            if not steps or steps[-1][0] != "child" or steps[-1][2] is not None:
                return None
            name = steps[-1][1]
            steps[-1] = ("child", name + m["cast"][0].upper() + m["cast"][1:], None)
        elif m["resolve"]:
            steps.append(("resolve", m["resolve"], None))
        elif m["field"]:
            steps.append(("where", m["field"], m["literal"]))
        else:
            steps.append(("child", m["name"], m["index"]))
    return [_step(kind, a, b) for kind, a, b in steps]


def _step(kind: str, a: str, b: str | None) -> Callable[[Values], Values]:
    if kind == "resolve":
        return lambda items: [i for i in items if _reference_type(i) == a]
    if kind == "where":
        return lambda items: [i for i in items if isinstance(i, dict) and i.get(a) == b]
    index = None if b is None else int(b)

    def child(items: Values) -> Values:
        found = _child(items, a)
        if not found:
            found = _choice(items, a)
        return found if index is None else found[index : index + 1]

    return child


def _simple(part: str) -> tuple[str, PathFn] | None:
    """(root type, evaluator) for a part the fast path understands, else None."""
    outer = _OUTER_CAST.fullmatch(part)
    if outer is not None:  # (path as T) is path.as(T)
        part = f"{outer['path'].strip()}.as({outer['cast']})"
    root = _ROOT.match(part)
    if root is None:
        return None
    steps = _compile_steps(part[root.end() :])
    if steps is None:
        return None

    def evaluate(resource: dict[str, Any]) -> Values:
        items: Values = [resource]
        for step in steps:
            items = step(items)
            if not items:
                break
        return items

    return root.group(), evaluate


def _root_of(part: str) -> str | None:
    m = _ROOT.match(part.lstrip("("))
    return m.group() if m else None


class _Fallback:
    """A part evaluated by fhirpathpy, compiled on first use; failures are logged once."""

    __slots__ = ("_expression", "_compiled", "_broken")

    def __init__(self, expression: str) -> None:
        self._expression = expression
        self._compiled: Callable[..., Values] | None = None
        self._broken = False

    def __call__(self, resource: dict[str, Any]) -> Values:
        if self._broken:
            return []
        try:
            if self._compiled is None:
                import fhirpathpy  # deferred: slow to import and rarely needed
                from fhirpathpy.models import models

                self._compiled = fhirpathpy.compile(self._expression, model=models["r4"])
            return list(self._compiled(resource))
        except Exception:  # a third-party engine: any failure must not fail a write
            self._broken = True
            log.exception("FHIRPath expression %r cannot be evaluated; skipped from now on", self._expression)
            return []


def relative_evaluator(expression: str) -> PathFn:
    """An expression evaluated on an element rather than a resource, e.g. a composite's
    component ``value.as(CodeableConcept)`` applied to each ``useContext``."""
    steps = _compile_steps("." + expression.strip())
    if steps is None:
        return _Fallback(expression)

    def evaluate(item: dict[str, Any]) -> Values:
        items: Values = [item]
        for step in steps:
            items = step(items)
        return items

    return evaluate


class Evaluator:
    """A compiled SearchParameter expression: call it with a resource dict to get the values."""

    __slots__ = ("expression", "_by_root")

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self._by_root: dict[str, list[PathFn]] = {}
        for part in split_union(expression):
            simple = _simple(part)
            if simple is not None:
                root, fn = simple
            else:
                root, fn = _root_of(part), _Fallback(part)
            if root is not None:
                self._by_root.setdefault(root, []).append(fn)

    def uses_fallback(self, resource_type: str) -> bool:
        """True when a part for resource_type is not handled by the fast path."""
        return any(isinstance(fn, _Fallback) for fn in self._by_root.get(resource_type, ()))

    def __call__(self, resource: dict[str, Any]) -> Values:
        out: Values = []
        for root in (resource.get("resourceType"), *GENERIC_ROOTS):
            for fn in self._by_root.get(root, ()):
                out.extend(fn(resource))
        return out
