"""OperationDefinition resources for the server's own operations, generated from their
registration so that what is served and what runs cannot drift apart
(https://hl7.org/fhir/R4/operationdefinition.html)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fhir_server.api.operations import Operation


@dataclass(frozen=True, slots=True)
class ParameterSpec:
    name: str
    use: str  # in | out
    type: str  # a FHIR type (date, code, Reference, CareTeam…); "" for a parameter with parts
    min: int = 0
    max: str = "1"
    documentation: str = ""


def operation_definition(operation: Operation, parameters: list[ParameterSpec]) -> dict[str, Any]:
    name = "".join(part.capitalize() for part in operation.name.split("-"))
    return {
        "resourceType": "OperationDefinition",
        "id": operation.name,
        "url": operation.definition,
        "version": "0.1.0",
        "name": name,
        "title": f"${operation.name}",
        "status": "active",
        "kind": "operation",
        "publisher": "fhir-server-lu-mr contributors",
        "description": operation.documentation or f"${operation.name}",
        "affectsState": operation.affects_state,
        "code": operation.name,
        **({"resource": list(operation.types)} if operation.types else {}),
        "system": operation.system,
        "type": operation.type_level,
        "instance": operation.instance,
        "parameter": [
            {
                "name": p.name,
                "use": p.use,
                "min": p.min,
                "max": p.max,
                **({"documentation": p.documentation} if p.documentation else {}),
                **({"type": p.type} if p.type else {}),
            }
            for p in parameters
        ],
    }
