"""Invariants (ElementDefinition.constraint) compiled once with fhirpathpy (R4 model).

- ``ele-1`` (every element has a value or children) and ``ext-1`` (an extension has either
  extensions or a value) are evaluated natively: they hold on every element of every
  resource, so evaluating them with fhirpathpy would cost more than all the rest, and
  fhirpathpy has no ``hasValue()`` (this module supplies one for the other invariants).
- ``txt-1``/``txt-2`` (both ``htmlChecks()``) are evaluated natively too, each for the rule
  its text states (:mod:`.narrative`); ``htmlChecks()`` is also a user function for fhirpathpy.
- ``resolve()`` (fhirpathpy has none) is a user function: the validator passes a resolver for
  the resource being checked (contained resources, and the entries of the enclosing Bundle),
  see :class:`Resolver`; a reference it cannot resolve gives empty, as the FHIRPath spec says.
- :data:`SKIPPED` lists invariants fhirpathpy cannot compile or failed to evaluate, with the
  reason.
- ``X.as(T)`` is compiled as ``X.ofType(T)``: fhirpathpy refuses ``as`` on collections, which
  the R4 invariants (dom-3) apply it to.
- Speed: top-level ``or``/``and``/``implies`` operands are compiled separately and
  evaluated lazily, with FHIRPath's three-valued logic (so ``a or b`` stops at a true ``a``).
  An operand whose expression only navigates from the element (no ``%``
  variables, ``$this``, ``descendants()``, ``children()``, ``resolve()``, ``hasValue()``...)
  gives, on an element that has none of the names it uses, the same result as on an empty
  element of that type. That result is computed once per (invariant, element path) and
  reused, which skips most evaluations (e.g. ``pat-1`` on a Patient without contact).
- Fast path: the hot invariants of the base spec (ref-1, bdl-3/4/5/7/8, dom-2..6, per-1...) have
  Python equivalents in :data:`FAST`, keyed by their exact expression text; one returns
  :data:`FALLBACK` on any input shape it does not handle, and fhirpathpy evaluates it then.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, Protocol

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

from fhir_server.fhir.profiles.narrative import allowed_xhtml, has_content, html_checks

log = logging.getLogger(__name__)

SKIPPED: dict[str, str] = {}
_UNCOMPILABLE: set[str] = set()
"""Keys never compiled again. An invariant that failed to *evaluate* on one input stays in force:
one odd (or hostile) resource must not switch a check off for the whole process."""


class Resolver(Protocol):
    def __call__(self, reference: str) -> dict[str, Any] | None: ...


# the resolver of the resource whose invariants are being evaluated (set by Invariant.holds)
RESOLVER: ContextVar[Resolver | None] = ContextVar("fhirpath_resolver", default=None)


def _has_value(inputs: list[Any]) -> bool:
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)


def _resolve(inputs: list[Any]) -> list[Any]:
    """FHIRPath resolve(): each Reference (or reference string) to the resource it names, if found."""
    resolver = RESOLVER.get()
    out = []
    for item in inputs:
        ref = item.get("reference") if isinstance(item, dict) else item
        found = resolver(ref) if resolver is not None and isinstance(ref, str) else None
        if found is not None:
            out.append(ResourceNode.create_node(found, found.get("resourceType")))
    return out


_OPTIONS = {
    "traceFn": lambda label, value: None,  # trace() would print to stdout
    "userInvocationTable": {
        "hasValue": {"fn": _has_value},
        "resolve": {"fn": _resolve},
        "htmlChecks": {"fn": html_checks},
    },
}
_UNSAFE = re.compile(r"%|\$this|\$index|descendants\(|children\(|resolve\(|hasValue\(|repeat\(|htmlChecks\(|memberOf\(")
_STRING = re.compile(r"'(?:[^'\\]|\\.)*'")
_NAME = re.compile(r"`([^`]+)`|\b([a-z][A-Za-z0-9_]*)\b")


def _ele_1(value: Any) -> bool:
    if isinstance(value, dict):
        return any(k != "id" for k in value)
    return value is not None


def _ext_1(value: Any) -> bool:
    if not isinstance(value, dict):
        return True
    has_value = any(k.startswith("value") for k in value)
    return ("extension" in value) != has_value


NATIVE: dict[str, Callable[[Any], bool]] = {
    "ele-1": _ele_1,
    "ext-1": _ext_1,
    "txt-1": allowed_xhtml,
    "txt-2": has_content,
}


class _Leaf:
    """One operand, compiled; memoised on elements that lack every name it uses."""

    __slots__ = ("fn", "memo", "names", "empty")

    def __init__(self, expression: str):
        # fhirpathpy's as() refuses collections (FHIRPath N1 allowed them); ofType() is the same filter
        self.fn = fhirpathpy.compile(expression.replace(".as(", ".ofType("), models["r4"], _OPTIONS)
        stripped = _STRING.sub("''", expression)
        self.memo = not _UNSAFE.search(stripped)
        self.names = frozenset(a or b for a, b in _NAME.findall(stripped))
        self.empty: dict[str, bool | None] = {}

    def value(self, value: Any, base_path: str, variables: dict[str, Any], resource_type: str | None) -> bool | None:
        if self.memo and isinstance(value, dict) and not self._uses(value):
            cache_key = f"{resource_type}|{base_path}"
            if cache_key not in self.empty:
                empty = {"resourceType": resource_type} if resource_type else {}
                self.empty[cache_key] = self._evaluate(empty, base_path, variables, resource_type)
            return self.empty[cache_key]
        return self._evaluate(value, base_path, variables, resource_type)

    def _uses(self, value: dict[str, Any]) -> bool:
        names = self.names
        for key in value:
            if key == "resourceType":
                continue
            key = key.lstrip("_")
            if key in names:
                return True
            for name in names:  # choice elements: valueString for value
                if key.startswith(name) and len(key) > len(name) and key[len(name)].isupper():
                    return True
        return False

    def _evaluate(
        self, value: Any, base_path: str, variables: dict[str, Any], resource_type: str | None
    ) -> bool | None:
        if isinstance(value, dict) and not resource_type:
            node: Any = ResourceNode.create_node(value, base_path)
        else:
            node = value
        result = self.fn(node, variables)
        if not result:
            return None
        if len(result) == 1 and isinstance(result[0], bool):
            return result[0]
        return True  # a non-empty collection counts as true in a boolean context


def _split(expression: str, operator: str) -> list[str]:
    """Top-level operands of a boolean operator (outside parentheses and string literals)."""
    parts, depth, quoted, start, i = [], 0, False, 0, 0
    token = f" {operator} "
    while i < len(expression):
        ch = expression[i]
        if ch == "'" and (i == 0 or expression[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch in "([":
            depth += 1
        elif not quoted and ch in ")]":
            depth -= 1
        elif not quoted and depth == 0 and expression.startswith(token, i):
            parts.append(expression[start:i].strip())
            i += len(token)
            start = i
            continue
        i += 1
    parts.append(expression[start:].strip())
    return parts


def _tree(expression: str) -> Any:
    """('implies', a, b) | ('or', [..]) | ('and', [..]) | _Leaf, by FHIRPath precedence."""
    expression = expression.strip()
    implies = _split(expression, "implies")
    if len(implies) == 2:
        return ("implies", _tree(implies[0]), _tree(implies[1]))
    if len(implies) == 1 and not _split(expression, "xor")[1:]:
        ors = _split(expression, "or")
        if len(ors) > 1:
            return ("or", [_tree(p) for p in ors])
        ands = _split(expression, "and")
        if len(ands) > 1:
            return ("and", [_tree(p) for p in ands])
    return _Leaf(expression)


def _eval(node: Any, value: Any, base_path: str, variables: dict[str, Any], rt: str | None) -> bool | None:
    """Three-valued (True, False, None = empty) evaluation, operands lazily, as FHIRPath does."""
    if isinstance(node, _Leaf):
        return node.value(value, base_path, variables, rt)
    if node[0] == "implies":
        left = _eval(node[1], value, base_path, variables, rt)
        if left is False:
            return True
        right = _eval(node[2], value, base_path, variables, rt)
        return True if right is True else (right if left is True else None)
    seen_empty = False
    if node[0] == "or":
        for operand in node[1]:
            result = _eval(operand, value, base_path, variables, rt)
            if result is True:
                return True
            seen_empty = seen_empty or result is None
        return None if seen_empty else False
    for operand in node[1]:  # and
        result = _eval(operand, value, base_path, variables, rt)
        if result is False:
            return False
        seen_empty = seen_empty or result is None
    return None if seen_empty else True


# -- fast path -------------------------------------------------------------------------------
# Python equivalents of hot invariants of the base spec, keyed by their exact expression text.
# Each returns the three-valued result (True, False, None = empty) of the whole expression, or
# FALLBACK when the input is anything but the plain shape it knows (twins ``_x``, nulls, wrong
# JSON shapes, values it does not compare itself...): then fhirpathpy evaluates it as before.
# tests/profiles/test_invariant_fast_path.py checks both agree.

FALLBACK: Any = object()
_ABSENT: Any = object()


def _get(obj: dict[str, Any], key: str) -> Any:
    """obj[key] if it is a plain value; _ABSENT if absent; FALLBACK if null or with a ``_key`` twin."""
    if "_" + key in obj:
        return FALLBACK
    value = obj.get(key, _ABSENT)
    return FALLBACK if value is None else value


def _present(obj: dict[str, Any], key: str) -> Any:
    """``key.exists()`` for a complex element: True/False, or FALLBACK."""
    value = obj.get(key, _ABSENT)
    if value is _ABSENT:
        return False
    if isinstance(value, dict) or isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return True
    return FALLBACK


def _has_choice(obj: dict[str, Any], name: str) -> Any:
    """Whether the choice element ``name[x]`` is present (``valueString``...); FALLBACK on a twin."""
    n = len(name)
    if any(k.startswith("_" + name) for k in obj):
        return FALLBACK
    return any(k.startswith(name) and len(k) > n and k[n].isupper() for k in obj)


def _ref_1(value: Any, variables: dict[str, Any]) -> Any:
    # reference.startsWith('#').not() or (reference.substring(1) in %rootResource.contained.id)
    if not isinstance(value, dict):
        return FALLBACK
    ref = _get(value, "reference")
    if ref is _ABSENT:
        return None
    if not isinstance(ref, str) or len(ref) < 2:
        return FALLBACK
    if ref[0] != "#":
        return True
    root = variables.get("rootResource")
    if not isinstance(root, dict) or "_contained" in root:
        return FALLBACK
    contained = root.get("contained", _ABSENT)
    if contained is _ABSENT:
        return False
    if not isinstance(contained, list):
        return FALLBACK
    ids = set()
    for c in contained:
        if not isinstance(c, dict):
            return FALLBACK
        cid = _get(c, "id")
        if cid is _ABSENT:
            continue
        if not isinstance(cid, str):
            return FALLBACK
        ids.add(cid)
    return ref[1:] in ids


def _entry_all(field: str, types: frozenset[str]) -> Callable[[Any, dict[str, Any]], Any]:
    # entry.all(<field>.exists() = (%resource.type = 'a' or %resource.type = 'b' or ...))
    def check(value: Any, variables: dict[str, Any]) -> Any:
        resource = variables.get("resource")
        if not isinstance(value, dict) or not isinstance(resource, dict):
            return FALLBACK
        bundle_type = _get(resource, "type")
        if not isinstance(bundle_type, str):
            return FALLBACK
        entries = value.get("entry", _ABSENT)
        if entries is _ABSENT:
            return True
        if not isinstance(entries, list):
            return FALLBACK
        wanted = bundle_type in types
        for e in entries:
            if not isinstance(e, dict):
                return FALLBACK
            present = _present(e, field)
            if present is FALLBACK:
                return FALLBACK
            if present != wanted:
                return False
        return True

    return check


def _bdl_7(value: Any, variables: dict[str, Any]) -> Any:
    # (type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()
    if not isinstance(value, dict):
        return FALLBACK
    bundle_type = _get(value, "type")
    if bundle_type is FALLBACK or bundle_type is not _ABSENT and not isinstance(bundle_type, str):
        return FALLBACK
    if bundle_type == "history":
        return True
    entries = value.get("entry", _ABSENT)
    keys = []
    if entries is not _ABSENT:
        if not isinstance(entries, list):
            return FALLBACK
        for e in entries:
            if not isinstance(e, dict):
                return FALLBACK
            full = _get(e, "fullUrl")
            if full is _ABSENT:
                continue
            if not isinstance(full, str) or not full:
                return FALLBACK
            version = ""
            resource = e.get("resource", _ABSENT)
            if resource is not _ABSENT:
                if not isinstance(resource, dict):
                    return FALLBACK
                meta = resource.get("meta", _ABSENT)
                if meta is not _ABSENT:
                    if not isinstance(meta, dict):
                        return FALLBACK
                    version = _get(meta, "versionId")
                    if version is _ABSENT:
                        version = ""
                    elif not isinstance(version, str) or not version:
                        return FALLBACK
            keys.append(full + version)
    distinct = len(set(keys)) == len(keys)
    if bundle_type is _ABSENT:  # empty or X: true if X is, else empty
        return True if distinct else None
    return distinct


def _bdl_8(value: Any, variables: dict[str, Any]) -> Any:
    # fullUrl.contains('/_history/').not()
    if not isinstance(value, dict):
        return FALLBACK
    full = _get(value, "fullUrl")
    if full is _ABSENT:
        return None
    if not isinstance(full, str) or not full:
        return FALLBACK
    return "/_history/" not in full


def _any_present(*names: str) -> Callable[[Any, dict[str, Any]], Any]:
    # a.exists() or b.exists() or ... (complex elements)
    def check(value: Any, variables: dict[str, Any]) -> Any:
        if not isinstance(value, dict):
            return FALLBACK
        for name in names:
            present = _present(value, name)
            if present is not False:
                return present
        return False

    return check


def _dom_6(value: Any, variables: dict[str, Any]) -> Any:
    # text.`div`.exists()
    if not isinstance(value, dict):
        return FALLBACK
    text = value.get("text", _ABSENT)
    if text is _ABSENT:
        return False
    if not isinstance(text, dict):
        return FALLBACK
    div = _get(text, "div")
    if div is _ABSENT:
        return False
    return True if isinstance(div, str) and div else FALLBACK


def _no_contained(value: Any, variables: dict[str, Any]) -> Any:
    # contained.<...>.empty() [and contained.<...>.empty()]: true without contained resources
    if isinstance(value, dict) and "contained" not in value and "_contained" not in value:
        return True
    return FALLBACK


def _per_1(value: Any, variables: dict[str, Any]) -> Any:
    # start.hasValue().not() or end.hasValue().not() or (start <= end)
    if isinstance(value, dict) and ("start" not in value or "end" not in value):
        return True
    return FALLBACK


def _empty_or_exists(first: str, second: str) -> Callable[[Any, dict[str, Any]], Any]:
    # <first>.empty() or <second>.exists() (primitive elements)
    def check(value: Any, variables: dict[str, Any]) -> Any:
        if not isinstance(value, dict):
            return FALLBACK
        a, b = _get(value, first), _get(value, second)
        if a is FALLBACK or b is FALLBACK or isinstance(a, dict | list) or isinstance(b, dict | list):
            return FALLBACK
        return a is _ABSENT or b is not _ABSENT

    return check


def _tim_5(value: Any, variables: dict[str, Any]) -> Any:
    # period.exists() implies period >= 0
    if not isinstance(value, dict):
        return FALLBACK
    period = _get(value, "period")
    if period is _ABSENT:
        return True
    if isinstance(period, int | float) and not isinstance(period, bool):
        return period >= 0
    return FALLBACK


def _coding_in(value: dict[str, Any], element: str, system: str, codes: frozenset[str]) -> Any:
    """``<element>.coding.where(system = S and code in codes).exists()``, or FALLBACK."""
    concept = value.get(element, _ABSENT)
    if concept is _ABSENT:
        return False
    if not isinstance(concept, dict):
        return FALLBACK
    codings = concept.get("coding", _ABSENT)
    if codings is _ABSENT:
        return False
    if not isinstance(codings, list):
        return FALLBACK
    found = False
    for coding in codings:
        if not isinstance(coding, dict):
            return FALLBACK
        s, c = _get(coding, "system"), _get(coding, "code")
        if s is FALLBACK or c is FALLBACK:
            return FALLBACK
        if s is not _ABSENT and not isinstance(s, str) or c is not _ABSENT and not isinstance(c, str):
            return FALLBACK
        found = found or (s == system and c in codes)
    return found


CONDITION_VER = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
ALLERGY_VER = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"
_EIE = frozenset({"entered-in-error"})


def _status_rule(system: str, match_wanted: bool, status_present: bool) -> Callable[[Any, dict[str, Any]], Any]:
    # verificationStatus.coding.where(system = S and code = 'entered-in-error').<exists|empty>()
    #   or clinicalStatus.<exists|empty>()
    def check(value: Any, variables: dict[str, Any]) -> Any:
        if not isinstance(value, dict):
            return FALLBACK
        match = _coding_in(value, "verificationStatus", system, _EIE)
        status = _present(value, "clinicalStatus")
        if match is FALLBACK or status is FALLBACK:
            return FALLBACK
        return match == match_wanted or status == status_present

    return check


def _con_3(value: Any, variables: dict[str, Any]) -> Any:
    # clinicalStatus.exists() or verificationStatus.coding.where(...'entered-in-error').exists()
    #   or category.select($this='problem-list-item').empty()
    if not isinstance(value, dict):
        return FALLBACK
    status = _present(value, "clinicalStatus")
    if status is not False:
        return status
    match = _coding_in(value, "verificationStatus", CONDITION_VER, _EIE)
    if match is not False:
        return match
    return True if "category" not in value else FALLBACK


def _con_4(value: Any, variables: dict[str, Any]) -> Any:
    # abatement.empty() or clinicalStatus.coding.where(system=... and (code='resolved' or ...)).exists()
    if not isinstance(value, dict):
        return FALLBACK
    abatement = _has_choice(value, "abatement")
    if abatement is not False:
        return FALLBACK if abatement is FALLBACK else _abated(value)
    return True


def _abated(value: dict[str, Any]) -> Any:
    return _coding_in(
        value,
        "clinicalStatus",
        "http://terminology.hl7.org/CodeSystem/condition-clinical",
        frozenset({"resolved", "remission", "inactive"}),
    )


def _obs_7(value: Any, variables: dict[str, Any]) -> Any:
    # value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()
    if isinstance(value, dict) and (_has_choice(value, "value") is False or "component" not in value):
        return True
    return FALLBACK


FAST: dict[str, Callable[[Any, dict[str, Any]], Any]] = {
    "reference.startsWith('#').not() or (reference.substring(1).trace('url') in %rootResource.contained.id.trace('ids'))": _ref_1,  # noqa: E501
    "entry.all(request.exists() = (%resource.type = 'batch' or %resource.type = 'transaction' or %resource.type = 'history'))": _entry_all(  # noqa: E501
        "request", frozenset({"batch", "transaction", "history"})
    ),
    "entry.all(response.exists() = (%resource.type = 'batch-response' or %resource.type = 'transaction-response' or %resource.type = 'history'))": _entry_all(  # noqa: E501
        "response", frozenset({"batch-response", "transaction-response", "history"})
    ),
    "(type = 'history') or entry.where(fullUrl.exists()).select(fullUrl&resource.meta.versionId).isDistinct()": _bdl_7,
    "fullUrl.contains('/_history/').not()": _bdl_8,
    "resource.exists() or request.exists() or response.exists()": _any_present("resource", "request", "response"),
    "text.exists() or entry.exists() or section.exists()": _any_present("text", "entry", "section"),
    "text.`div`.exists()": _dom_6,
    "contained.where((('#'+id in (%resource.descendants().reference | %resource.descendants().as(canonical) | %resource.descendants().as(uri) | %resource.descendants().as(url))) or descendants().where(reference = '#').exists() or descendants().where(as(canonical) = '#').exists() or descendants().where(as(canonical) = '#').exists()).not()).trace('unmatched', id).empty()": _no_contained,  # noqa: E501
    "contained.contained.empty()": _no_contained,
    "contained.meta.versionId.empty() and contained.meta.lastUpdated.empty()": _no_contained,
    "contained.meta.security.empty()": _no_contained,
    "start.hasValue().not() or end.hasValue().not() or (start <= end)": _per_1,
    "code.empty() or system.exists()": _empty_or_exists("code", "system"),
    "period.empty() or periodUnit.exists()": _empty_or_exists("period", "periodUnit"),
    "period.exists() implies period >= 0": _tim_5,
    "verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code='entered-in-error').empty() or clinicalStatus.empty()": _status_rule(  # noqa: E501
        CONDITION_VER, False, False
    ),
    "verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = 'entered-in-error').exists() or clinicalStatus.exists()": _status_rule(  # noqa: E501
        ALLERGY_VER, True, True
    ),
    "verificationStatus.coding.where(system = 'http://terminology.hl7.org/CodeSystem/allergyintolerance-verification' and code = 'entered-in-error').empty() or clinicalStatus.empty()": _status_rule(  # noqa: E501
        ALLERGY_VER, False, False
    ),
    "clinicalStatus.exists() or verificationStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-ver-status' and code = 'entered-in-error').exists() or category.select($this='problem-list-item').empty()": _con_3,  # noqa: E501
    "abatement.empty() or clinicalStatus.coding.where(system='http://terminology.hl7.org/CodeSystem/condition-clinical' and (code='resolved' or code='remission' or code='inactive')).exists()": _con_4,  # noqa: E501
    "value.empty() or component.code.where(coding.intersect(%resource.code.coding).exists()).empty()": _obs_7,
}


class Invariant:
    __slots__ = ("key", "severity", "human", "expression", "native", "tree", "fast", "resolves")

    def __init__(self, key: str, definition: dict[str, Any]):
        self.key = definition.get("key", key)
        self.severity: str = definition.get("severity", "error")
        self.human: str = definition.get("human", "")
        self.expression: str = definition.get("expression", "")
        self.native = NATIVE.get(self.key)
        self.tree: Any = None if self.native is not None else _tree(self.expression)
        self.fast = FAST.get(self.expression) if self.native is None else None
        self.resolves = "resolve()" in self.expression

    def holds(
        self,
        value: Any,
        base_path: str,
        variables: dict[str, Any],
        resource_type: str | None,
        resolver: Resolver | None = None,
    ) -> bool:
        """Whether the invariant holds on the element ``value`` (a dict, or a primitive value):
        it fails only if the expression is false (empty passes). ``base_path`` is the
        element's path in its base type (``Patient.contact``, ``Period``); ``resolver`` serves
        ``resolve()``."""
        if self.native is not None:
            return self.native(value)
        if self.fast is not None:
            result = self.fast(value, variables)
            if result is not FALLBACK:
                return result is not False
        if not self.resolves:
            return _eval(self.tree, value, base_path, variables, resource_type) is not False
        token = RESOLVER.set(resolver)
        try:
            return _eval(self.tree, value, base_path, variables, resource_type) is not False
        finally:
            RESOLVER.reset(token)

    def evaluate(self, value: Any, base_path: str, variables: dict[str, Any], resource_type: str | None) -> Any:
        """The three-valued result with fhirpathpy only (no fast path), for tests."""
        return _eval(self.tree, value, base_path, variables, resource_type)


def compile_invariant(key: str, definition: dict[str, Any]) -> Invariant | None:
    """The compiled invariant, or None (recorded in :data:`SKIPPED`) if it cannot be compiled."""
    if key in _UNCOMPILABLE or definition.get("key") in _UNCOMPILABLE:
        return None
    try:
        return Invariant(key, definition)
    except Exception as exc:  # fhirpathpy raises plain Exceptions on unsupported syntax
        _UNCOMPILABLE.add(key)
        SKIPPED[key] = f"fhirpathpy cannot compile it: {str(exc)[:200]}"
        log.warning("invariant %s skipped: %s", key, exc)
        return None
