"""Structural validation of incoming resources with the fhir.resources R4B models.

R4B models are wire-identical to R4 for the types we serve (tests/fhir/test_official_examples.py
proves it on every official 4.0.1 example). They check structure only: element names,
cardinality of lists, primitive formats. Profiles and bindings are checked elsewhere.
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from fhir_server.errors import BadRequest, Issue

ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


@cache
def model_class(resource_type: str) -> Any:
    return get_fhir_model_class(resource_type)


def _path(resource_type: str, loc: tuple[Any, ...]) -> str:
    path = resource_type
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{str(part).removesuffix('__ext').replace('__ext', '')}"
    return path


def _empty_issues(node: Any, path: str, issues: list[Issue]) -> None:
    """FHIR JSON forbids null values, empty objects, arrays and strings (https://hl7.org/fhir/R4/json.html)."""
    if isinstance(node, dict):
        if not node:
            issues.append(Issue("structure", f"{path}: empty object is not allowed", expression=(path,)))
        for key, value in node.items():
            child = f"{path}.{key}"
            if value is None:
                issues.append(Issue("structure", f"{child}: null is not allowed", expression=(child,)))
            elif key != "div":
                _empty_issues(value, child, issues)
    elif isinstance(node, list):
        if not node:
            issues.append(Issue("structure", f"{path}: empty array is not allowed", expression=(path,)))
        for i, value in enumerate(node):
            if value is not None:  # nulls may pad arrays aligned with their _element twin
                _empty_issues(value, f"{path}[{i}]", issues)
    elif isinstance(node, str) and node.strip() == "":
        issues.append(Issue("structure", f"{path}: empty or blank string is not allowed", expression=(path,)))


def validate_basics(resource: Any, expected_type: str) -> None:
    """What :func:`validate_structure` checks besides the models: a JSON object of the expected
    type, a valid id, no null or empty values. Enough for a caller that also walks the resource
    against its StructureDefinition (``fhir_server.load_validation``)."""
    _check_type_and_id(resource, expected_type)
    issues: list[Issue] = []
    try:
        _empty_issues(resource, expected_type, issues)
    except RecursionError:
        raise BadRequest("The resource is nested too deeply to be a FHIR resource") from None
    if issues:
        raise BadRequest(issues[0].diagnostics, issues=issues)


def _check_type_and_id(resource: Any, expected_type: str) -> None:
    if not isinstance(resource, dict):
        raise BadRequest("The body must be a JSON object holding a FHIR resource")
    actual = resource.get("resourceType")
    if actual != expected_type:
        raise BadRequest(
            f"resourceType '{actual}' does not match the endpoint's type '{expected_type}'", expression="resourceType"
        )
    rid = resource.get("id")
    if rid is not None and (not isinstance(rid, str) or not ID_PATTERN.match(rid) or not rid.strip(".")):
        raise BadRequest(f"'{rid}' is not a valid FHIR id", expression=f"{expected_type}.id")


def validate_structure(resource: Any, expected_type: str) -> None:
    """Raise :class:`BadRequest` with one issue per problem, each naming the element's path."""
    _check_type_and_id(resource, expected_type)
    issues: list[Issue] = []
    try:
        _empty_issues(resource, expected_type, issues)
        model_class(expected_type).model_validate(resource)
    except RecursionError:
        raise BadRequest("The resource is nested too deeply to be a FHIR resource") from None
    except ValidationError as exc:
        for err in exc.errors():
            path = _path(expected_type, tuple(err["loc"]))
            issues.append(Issue("structure", f"{path}: {err['msg']}", expression=(path,)))
    except (ValueError, TypeError) as exc:  # validators of fhir.resources may raise these directly
        issues.append(Issue("structure", str(exc)))
    if issues:
        raise BadRequest(issues[0].diagnostics, issues=issues)
