"""Publish the terminology resources through the repository, so that ``GET /CodeSystem?url=...``
and ``GET /ValueSet/<id>`` find them.
(written only when changed: :func:`fhir_server.fhir.publish.publish_resources`).

A CodeSystem of more than :data:`MAX_PUBLISHED_CONCEPTS` concepts (ICD-10: 12,542) is
published without its concepts, as ``content: not-present`` (as terminology servers do for
SNOMED CT or LOINC): structurally validating and indexing 2 MB of concepts would cost about
a second at every first start, and its content is served by $lookup, $expand and
$validate-code.
"""

from __future__ import annotations

from typing import Any

from fhir_server.fhir.publish import publish_resources
from fhir_server.fhir.repository import Repository
from fhir_server.terminology.service import TerminologyService

MAX_PUBLISHED_CONCEPTS = 1000


def published_form(resource: dict[str, Any]) -> dict[str, Any]:
    """The resource as stored: large CodeSystems without their concepts."""
    concepts = resource.get("concept")
    if resource["resourceType"] != "CodeSystem" or not concepts or len(concepts) <= MAX_PUBLISHED_CONCEPTS:
        return resource
    summary = {k: v for k, v in resource.items() if k != "concept"}
    summary["content"] = "not-present"
    summary["count"] = resource.get("count", len(concepts))
    return summary


async def publish(repository: Repository, service: TerminologyService) -> int:
    """Write what changed; returns the number of resources written."""
    return await publish_resources(repository, map(published_form, service.resources))
