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


def check_json_shape(resource: Any, resource_type: str) -> None:
    """:class:`BadRequest` (one issue per problem) when a value the validators index or compare by
    value has the wrong JSON type: ``contained`` not a list of resources with a string
    ``resourceType`` and ``id``, ``meta`` not an object or ``meta.profile`` not a list of strings,
    an ``extension`` without a string ``url``; in nested contained resources and Bundle entries too.
    Run before the profile validator, which walks the resource as JSON and would fail on them."""
    issues: list[Issue] = []
    try:
        _shape_issues(resource, resource_type, issues)
    except RecursionError:
        raise BadRequest("The resource is nested too deeply to be a FHIR resource") from None
    if issues:
        raise BadRequest(issues[0].diagnostics, issues=issues)


def _shape_issues(node: Any, path: str, issues: list[Issue]) -> None:
    def wrong(at: str, expected: str) -> None:
        issues.append(Issue("structure", f"{at}: must be {expected}", expression=(at,)))

    if isinstance(node, list):
        for i, item in enumerate(node):
            _shape_issues(item, f"{path}[{i}]", issues)
        return
    if not isinstance(node, dict):
        return
    for key, value in node.items():
        child = f"{path}.{key}"
        if key == "contained":
            if not isinstance(value, list):
                wrong(child, "an array of resources")
                continue
            for i, item in enumerate(value):
                at = f"{child}[{i}]"
                if not isinstance(item, dict) or not isinstance(item.get("resourceType"), str):
                    wrong(at, "a resource (a JSON object with a resourceType)")
                    continue
                if "id" in item and not isinstance(item["id"], str):
                    wrong(f"{at}.id", "a string")
                _shape_issues(item, f"{at}", issues)
        elif key == "meta":
            if not isinstance(value, dict):
                wrong(child, "a JSON object")
                continue
            profiles = value.get("profile")
            if profiles is not None and not (isinstance(profiles, list) and all(isinstance(p, str) for p in profiles)):
                wrong(f"{child}.profile", "an array of canonical URLs (strings)")
            _shape_issues(value, child, issues)
        elif key in ("extension", "modifierExtension"):
            if not isinstance(value, list):
                wrong(child, "an array of extensions")
                continue
            for i, item in enumerate(value):
                if not isinstance(item, dict) or not isinstance(item.get("url"), str):
                    wrong(f"{child}[{i}]", "an extension (a JSON object with a string url)")
                else:
                    _shape_issues(item, f"{child}[{i}]", issues)
        elif key == "resource" and isinstance(value, dict) and "resourceType" in value:  # Bundle.entry, Parameters
            if not isinstance(value["resourceType"], str):
                wrong(f"{child}.resourceType", "a string")
                continue
            if "id" in value and not isinstance(value["id"], str):
                wrong(f"{child}.id", "a string")
            _shape_issues(value, child, issues)
        elif key != "div":
            _shape_issues(value, child, issues)


def validate_basics(resource: Any, expected_type: str) -> None:
    """What :func:`validate_structure` checks besides the models: a JSON object of the expected
    type, a valid id, no null or empty values. Enough for a caller that also walks the resource
    against its StructureDefinition (``fhir_server.load_validation``), whose walk needs the JSON
    shapes :func:`check_json_shape` checks."""
    _check_type_and_id(resource, expected_type)
    check_json_shape(resource, expected_type)
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
    check_json_shape(resource, expected_type)
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
