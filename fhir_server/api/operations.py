"""Named operations such as ``$lookup`` or ``$validate`` (https://hl7.org/fhir/R4/operations.html).

An operation is registered once with the levels it runs at (system, type, instance);
the router finds it by name, the CapabilityStatement lists it. Its input arrives as
:class:`Parameters`, from the query string (GET) or a Parameters body (POST).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from fhir_server.api.messages import FhirRequest, FhirResponse
from fhir_server.errors import BadRequest
from fhir_server.store.base import StoreTransaction


class Parameters:
    """The input of an operation: named values (value[x], a resource, or nested parts)."""

    def __init__(self, entries: list[tuple[str, Any]]):
        self._entries = entries

    @classmethod
    def from_query(cls, params: list[tuple[str, str]]) -> Parameters:
        return cls([(k, v) for k, v in params if not k.startswith("_")])

    @classmethod
    def from_resource(cls, body: Any) -> Parameters:
        if not isinstance(body, dict) or body.get("resourceType") != "Parameters":
            raise BadRequest("The body of an operation call must be a Parameters resource")
        return cls(_entries(body.get("parameter") or [], "Parameters.parameter"))

    def first(self, name: str) -> Any:
        return next((value for key, value in self._entries if key == name), None)

    def all(self, name: str) -> list[Any]:
        return [value for key, value in self._entries if key == name]

    def names(self) -> Iterator[str]:
        return (key for key, _ in self._entries)

    def text(self, name: str) -> str | None:
        """A primitive value as a string; 400 if it is given but is not a primitive."""
        value = self.first(name)
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, bool | int | float):
            return str(value).lower() if isinstance(value, bool) else str(value)
        raise BadRequest(f"Parameter '{name}' must be a primitive value")


def _entries(raw: list[Any], where: str) -> list[tuple[str, Any]]:
    entries: list[tuple[str, Any]] = []
    for i, parameter in enumerate(raw):
        if not isinstance(parameter, dict) or not isinstance(parameter.get("name"), str):
            raise BadRequest(f"{where}[{i}] needs a name")
        value: Any = None
        for key, item in parameter.items():
            if key.startswith("value"):
                value = item
        if "resource" in parameter:
            value = parameter["resource"]
        if "part" in parameter:
            value = Parameters(_entries(parameter["part"], f"{where}[{i}].part"))
        entries.append((parameter["name"], value))
    return entries


@dataclass(frozen=True, slots=True)
class OperationCall:
    request: FhirRequest
    resource_type: str | None
    resource_id: str | None
    parameters: Parameters
    tx: StoreTransaction | None


OperationHandler = Callable[[OperationCall], Awaitable[FhirResponse]]


@dataclass(frozen=True, slots=True)
class Operation:
    name: str  # without the "$"
    definition: str  # canonical URL of its OperationDefinition
    handler: OperationHandler
    types: tuple[str, ...] = ()  # types it runs on at type and/or instance level
    system: bool = False
    type_level: bool = False
    instance: bool = False
    affects_state: bool = False  # then POST only
    documentation: str = ""

    def runs_at(self, resource_type: str | None, instance: bool) -> bool:
        if resource_type is None:
            return self.system
        if resource_type not in self.types:
            return False
        return self.instance if instance else self.type_level


@dataclass
class OperationRegistry:
    operations: list[Operation] = field(default_factory=list)

    def register(self, operation: Operation) -> None:
        self.operations.append(operation)

    def find(self, name: str, resource_type: str | None, instance: bool) -> Operation | None:
        return next((op for op in self.operations if op.name == name and op.runs_at(resource_type, instance)), None)

    def for_type(self, resource_type: str) -> list[Operation]:
        return [op for op in self.operations if resource_type in op.types]

    def system_level(self) -> list[Operation]:
        return [op for op in self.operations if op.system]


def call_parameters(req: FhirRequest) -> Parameters:
    """GET: the query string. POST: a Parameters body, or a lone resource as parameter "resource"."""
    if req.method == "GET" or req.body is None:
        return Parameters.from_query(req.params)
    if isinstance(req.body, dict) and req.body.get("resourceType") not in (None, "Parameters"):
        return Parameters([("resource", req.body), *Parameters.from_query(req.params)._entries])
    return Parameters.from_resource(req.body)
