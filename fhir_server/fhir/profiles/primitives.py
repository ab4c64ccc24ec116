"""Primitive types: the JSON shape of each (https://hl7.org/fhir/R4/json.html#primitive) and the
regex its StructureDefinition gives (https://hl7.org/fhir/R4/datatypes.html#primitive)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

INTEGERS = {"integer": (-(2**31), 2**31 - 1), "positiveInt": (1, 2**31 - 1), "unsignedInt": (0, 2**31 - 1)}


class Primitive:
    __slots__ = ("code", "regex", "shape")

    def __init__(self, code: str, regex: str | None):
        self.code = code
        self.regex: Callable[[str], Any] | None = None
        if regex and code not in ("xhtml",):
            try:
                # ASCII: the FHIR regexes mean \s and \S as in Java (no-break space is not \s)
                self.regex = re.compile(regex, re.ASCII).fullmatch
            except re.error:
                self.regex = None
        self.shape = code

    def problem(self, value: Any) -> str | None:
        """A description of what is wrong with the JSON value, or None."""
        code = self.code
        if code == "boolean":
            return None if isinstance(value, bool) else "must be a JSON boolean"
        if code in INTEGERS:
            if isinstance(value, bool) or not isinstance(value, int):
                return "must be a JSON integer"
            low, high = INTEGERS[code]
            return None if low <= value <= high else f"must be between {low} and {high}"
        if code == "decimal":
            return None if isinstance(value, int | float) and not isinstance(value, bool) else "must be a JSON number"
        if not isinstance(value, str):
            return "must be a JSON string"
        if self.regex is not None and not self.regex(value):
            return f"'{value[:80]}' is not a valid {code}"
        return None


def load_primitives(definitions: dict[str, dict[str, Any]]) -> dict[str, Primitive]:
    out = {}
    for sd in definitions.values():
        if sd.get("kind") == "primitive-type" and sd.get("derivation") != "constraint":
            out[sd["type"]] = Primitive(sd["type"], sd.get("regex"))
    out.setdefault("xhtml", Primitive("xhtml", None))
    return out
