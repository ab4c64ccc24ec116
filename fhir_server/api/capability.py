"""The CapabilityStatement, built once at start from what the server actually wires up
(https://hl7.org/fhir/R4/capabilitystatement.html)."""

from __future__ import annotations

import time
from typing import Any

from fhir_server import FHIR_VERSION, __version__
from fhir_server.api.operations import Operation, OperationRegistry
from fhir_server.fhir.repository import format_instant
from fhir_server.fhir.search_parameters import SearchParameterRegistry

TYPE_INTERACTIONS = (
    "read",
    "vread",
    "update",
    "patch",
    "delete",
    "history-instance",
    "history-type",
    "create",
    "search-type",
)
SYSTEM_INTERACTIONS = ("transaction", "batch", "history-system")
RESULT_PARAMS = (
    ("_count", "number", "Page size (capped by the server maximum)"),
    ("_summary", "token", "true | text | data | count | false"),
    ("_elements", "string", "Comma-separated top-level elements to return"),
    ("_total", "token", "none | estimate | accurate"),
    ("_sort", "string", "Comma-separated search parameters, '-' for descending"),
)


def _operations(operations: list[Operation]) -> dict[str, Any]:
    listed = [
        {
            "name": op.name,
            "definition": op.definition,
            **({"documentation": op.documentation} if op.documentation else {}),
        }
        for op in operations
    ]
    return {"operation": listed} if listed else {}


def _includes(resource_type: str, types: tuple[str, ...], registry: SearchParameterRegistry) -> dict[str, Any]:
    own = registry.supported_for_type(resource_type).values()
    includes = sorted(f"{resource_type}:{p.code}" for p in own if p.type == "reference")
    reverse = sorted(
        f"{source}:{p.code}"
        for source in types
        for p in registry.supported_for_type(source).values()
        if p.type == "reference" and (not p.targets or resource_type in p.targets)
    )
    return {"searchInclude": includes, "searchRevInclude": reverse}


def _resource(
    resource_type: str,
    types: tuple[str, ...],
    registry: SearchParameterRegistry,
    operations: OperationRegistry,
    supported_profiles: dict[str, list[str]] | None = None,
) -> dict[str, Any]:
    params = sorted(registry.supported_for_type(resource_type).values(), key=lambda p: p.code)
    profiles = (supported_profiles or {}).get(resource_type)
    return {
        "type": resource_type,
        "profile": f"http://hl7.org/fhir/StructureDefinition/{resource_type}",
        **({"supportedProfile": list(profiles)} if profiles else {}),
        "interaction": [{"code": code} for code in TYPE_INTERACTIONS],
        "versioning": "versioned-update",
        "readHistory": True,
        "updateCreate": True,
        "conditionalCreate": True,
        "conditionalRead": "full-support",
        "conditionalUpdate": True,
        "conditionalDelete": "single",
        "referencePolicy": ["literal", "logical"],
        **_includes(resource_type, types, registry),
        "searchParam": [
            {
                "name": p.code,
                "definition": p.url,
                "type": p.type,
                **({"documentation": p.description} if p.description else {}),
            }
            for p in params
        ]
        + [{"name": name, "type": kind, "documentation": doc} for name, kind, doc in RESULT_PARAMS],
        **_operations(operations.for_type(resource_type)),
    }


class CapabilityStatementBuilder:
    """Builds the statement again only when the search parameters or operations changed."""

    def __init__(
        self,
        base_url: str,
        types: tuple[str, ...],
        registry: SearchParameterRegistry,
        operations: OperationRegistry,
        supported_profiles: dict[str, list[str]] | None = None,
        security: dict[str, Any] | None = None,
    ):
        """``supported_profiles``: resource type → profile URLs listed as ``supportedProfile``;
        ``security``: ``rest.security`` (None when authentication is off)."""
        self._args = (base_url, types, registry, operations)
        self._profiles = supported_profiles
        self._security = security
        self._built: tuple[tuple[int, int], dict[str, Any]] | None = None

    def __call__(self) -> dict[str, Any]:
        _, _, registry, operations = self._args
        stamp = (registry.generation, len(operations.operations))
        if self._built is None or self._built[0] != stamp:
            self._built = (
                stamp,
                capability_statement(
                    *self._args,
                    date=format_instant(time.time_ns() // 1000),
                    supported_profiles=self._profiles,
                    security=self._security,
                ),
            )
        return self._built[1]


def capability_statement(
    base_url: str,
    types: tuple[str, ...],
    registry: SearchParameterRegistry,
    operations: OperationRegistry,
    date: str,
    supported_profiles: dict[str, list[str]] | None = None,
    security: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": date,
        "publisher": "fhir-server-lu-mr contributors",
        "kind": "instance",
        "software": {"name": "fhir-server-lu-mr", "version": __version__},
        "implementation": {"description": "FHIR R4 server for Luxembourg's médecin référent scheme", "url": base_url},
        "fhirVersion": FHIR_VERSION,
        "format": ["application/fhir+json", "application/json"],
        "patchFormat": ["application/json-patch+json"],
        "rest": [
            {
                "mode": "server",
                **({"security": security} if security else {}),
                "resource": [_resource(t, types, registry, operations, supported_profiles) for t in types],
                "interaction": [{"code": code} for code in SYSTEM_INTERACTIONS],
                **_operations(operations.system_level()),
            }
        ],
    }
