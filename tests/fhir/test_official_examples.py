"""Every official FHIR 4.0.1 example of a supported type passes our structural validation
(the R4B models of fhir.resources, used as the R4 parser: ../shared/design/architecture.md).

Known exceptions are listed with their reason, not hidden by weakening validation.
"""

from __future__ import annotations

import json

from support import official_examples

from fhir_server.errors import BadRequest
from fhir_server.fhir.resource_types import SUPPORTED_TYPES
from fhir_server.fhir.validation import validate_structure


def _known_exception(resource: dict) -> str | None:
    """Why an official example may fail, or None if it must pass."""
    rtype = resource.get("resourceType")
    text = json.dumps(resource)
    if rtype == "CodeSystem" and '"_valueString"' in text:
        return "extension values carrying _valueString: not representable in the fhir.resources models"
    if rtype == "SearchParameter" and "base" not in resource:
        return "invalid upstream: SearchParameter.base is required"
    if rtype == "Bundle" and resource.get("id") == "v2-valuesets":
        return "Bundle of v2 value sets whose CodeSystems carry _valueString extensions"
    if rtype == "CodeSystem" and resource.get("id") == "v2-0550":
        return "invalid upstream: concept[444].code is blank"
    if len(resource.get("id", "")) > 64:
        return "invalid upstream: an id longer than the 64 characters R4 allows"
    return None


def test_every_official_example_of_supported_types_validates():
    checked, excused, failures = 0, [], []
    for path, resource in official_examples(SUPPORTED_TYPES):
        rtype = resource["resourceType"]
        try:
            validate_structure(resource, rtype)
            checked += 1
        except BadRequest as exc:
            reason = _known_exception(resource)
            if reason is None:
                failures.append(f"{path.name}: {exc}")
            else:
                excused.append(path.name)
    assert not failures, "\n".join(failures[:20])
    assert checked > 3000, f"only {checked} examples checked: is the package complete?"
    assert len(excused) <= 62, excused
