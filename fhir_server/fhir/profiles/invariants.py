"""Invariants (ElementDefinition.constraint) compiled once with fhirpathpy (R4 model).

- ``ele-1`` (every element has a value or children) and ``ext-1`` (an extension has either
  extensions or a value) are evaluated natively: they hold on every element of every
  resource, so evaluating them with fhirpathpy would cost more than all the rest, and
  fhirpathpy has no ``hasValue()`` (this module supplies one for the other invariants).
- ``txt-1``/``txt-2`` (``htmlChecks()``) are not evaluated: fhirpathpy has no htmlChecks();
  nor are invariants using ``resolve()`` (fhirpathpy does not resolve references; in the
  supported types: ctm-1, and those listed by ``ProfileValidator.skipped_invariants()``).
  :data:`SKIPPED` lists them with the reason; compile or run-time failures are added there.
- ``X.as(T)`` is compiled as ``X.ofType(T)``: fhirpathpy refuses ``as`` on collections, which
  the R4 invariants (dom-3) apply it to.
- Speed: top-level ``or``/``and``/``implies`` operands are compiled separately and
  evaluated lazily, with FHIRPath's three-valued logic (so ``a or b`` stops at a true ``a``).
  An operand whose expression only navigates from the element (no ``%``
  variables, ``$this``, ``descendants()``, ``children()``, ``resolve()``, ``hasValue()``...)
  gives, on an element that has none of the names it uses, the same result as on an empty
  element of that type. That result is computed once per (invariant, element path) and
  reused, which skips most evaluations (e.g. ``pat-1`` on a Patient without contact).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any

import fhirpathpy
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.models import models

log = logging.getLogger(__name__)

SKIPPED: dict[str, str] = {
    "txt-1": "htmlChecks() is not implemented by fhirpathpy",
    "txt-2": "htmlChecks() is not implemented by fhirpathpy",
}


def _has_value(inputs: list[Any]) -> bool:
    return len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)


_OPTIONS = {
    "traceFn": lambda label, value: None,  # trace() would print to stdout
    "userInvocationTable": {"hasValue": {"fn": _has_value}},
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


NATIVE: dict[str, Callable[[Any], bool]] = {"ele-1": _ele_1, "ext-1": _ext_1}


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


class Invariant:
    __slots__ = ("key", "severity", "human", "expression", "native", "tree")

    def __init__(self, key: str, definition: dict[str, Any]):
        self.key = definition.get("key", key)
        self.severity: str = definition.get("severity", "error")
        self.human: str = definition.get("human", "")
        self.expression: str = definition.get("expression", "")
        self.native = NATIVE.get(key)
        self.tree: Any = None if self.native is not None else _tree(self.expression)

    def holds(self, value: Any, base_path: str, variables: dict[str, Any], resource_type: str | None) -> bool:
        """Whether the invariant holds on the element ``value`` (a dict, or a primitive value):
        it fails only if the expression is false (empty passes). ``base_path`` is the
        element's path in its base type (``Patient.contact``, ``Period``)."""
        if self.native is not None:
            return self.native(value)
        return _eval(self.tree, value, base_path, variables, resource_type) is not False


def compile_invariant(key: str, definition: dict[str, Any]) -> Invariant | None:
    """The compiled invariant, or None (recorded in :data:`SKIPPED`) if it cannot be compiled."""
    if key in SKIPPED or definition.get("key") in SKIPPED:
        return None
    if "resolve()" in definition.get("expression", ""):
        SKIPPED[key] = "uses resolve(), which fhirpathpy does not implement (no reference resolution)"
        return None
    try:
        return Invariant(key, definition)
    except Exception as exc:  # fhirpathpy raises plain Exceptions on unsupported syntax
        SKIPPED[key] = f"fhirpathpy cannot compile it: {str(exc)[:200]}"
        log.warning("invariant %s skipped: %s", key, exc)
        return None
