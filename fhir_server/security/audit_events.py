"""One access to the API as an R4 AuditEvent (https://hl7.org/fhir/R4/auditevent.html).

The shape follows the IHE Basic Audit Log Patterns for RESTful interactions
(https://profiles.ihe.net/ITI/BALP/): type ``rest`` with the restful-interaction as subtype,
the user (requestor), the client (DICOM "Source Role ID") and the server ("Destination Role
ID") as agents, and as entities the X-Request-Id, the query, each Patient (role 1) and each
resource (role 4 "Domain Resource").
"""

from __future__ import annotations

import base64
import ipaddress
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from fhir_server.fhir.repository import format_instant

MAX_RESOURCE_ENTITIES = 100
"""Resources listed in one AuditEvent; an extra entity says how many more there were."""

DCM = "http://dicom.nema.org/resources/ontology/DCM"
PARTICIPATION = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE = "http://terminology.hl7.org/CodeSystem/object-role"
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
INTERACTION = "http://hl7.org/fhir/restful-interaction"
ACTOR_KIND = "https://fhir.mr.lu/CodeSystem/access-actor"
"""Who the access-decision layer took the user for: patient, related-person, practitioner, cns, system, anonymous."""

REST = {
    "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
    "code": "rest",
    "display": "Restful Operation",
}
SOURCE_ROLE = {"system": DCM, "code": "110153", "display": "Source Role ID"}
DESTINATION_ROLE = {"system": DCM, "code": "110152", "display": "Destination Role ID"}
RECIPIENT = {"system": PARTICIPATION, "code": "IRCP", "display": "information recipient"}
AUTHOR = {"system": PARTICIPATION, "code": "AUT", "display": "author (originator)"}
PATIENT_USER = {"system": "http://terminology.hl7.org/CodeSystem/v3-RoleClass", "code": "PAT", "display": "patient"}
PERSON = {"system": ENTITY_TYPE, "code": "1", "display": "Person"}
SYSTEM_OBJECT = {"system": ENTITY_TYPE, "code": "2", "display": "System Object"}
PATIENT_ROLE = {"system": OBJECT_ROLE, "code": "1", "display": "Patient"}
RESOURCE_ROLE = {"system": OBJECT_ROLE, "code": "4", "display": "Domain Resource"}
QUERY_ROLE = {"system": OBJECT_ROLE, "code": "24", "display": "Query"}
REQUEST_ID = {"system": "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType", "code": "XrequestId"}
APPLICATION_SERVER = {
    "system": "http://terminology.hl7.org/CodeSystem/security-source-type",
    "code": "4",
    "display": "Application Server",
}
PURPOSE_DISPLAY = {"TREAT": "treatment", "BTG": "break the glass"}
OUTCOME_CODES = {"success": "0", "denied": "4", "error": "8"}  # success, minor failure, serious failure
ACTIONS = {
    "create": "C",
    "read": "R",
    "vread": "R",
    "history-instance": "R",
    "history-type": "R",
    "history-system": "R",
    "capabilities": "R",
    "update": "U",
    "patch": "U",
    "delete": "D",
}  # searches, operations, batches and transactions: "E" (execute), as BALP and the R4 search example do


@dataclass(frozen=True, slots=True)
class AccessRecord:
    """One access to the API, as the access-decision layer saw it."""

    interaction: str  # FHIR restful-interaction code: read, vread, search-type, …, operation, batch, transaction
    outcome: Literal["success", "denied", "error"]
    status: int  # the HTTP status answered
    actor_kind: str  # "patient", "related-person", "practitioner", "cns", "system", "anonymous"
    client_id: str | None
    who: str | None  # relative reference of the user ("Practitioner/abc"); None for system clients
    resource_type: str | None = None
    resource_id: str | None = None
    operation: str | None = None  # e.g. "$mr-status"
    patients: tuple[str, ...] = ()  # ids of the Patients whose record was touched
    resources: tuple[str, ...] = ()  # "Type/id[/_history/v]" read, returned or written
    query: str | None = None  # the search query string (parameter names and values)
    purpose: str | None = None  # v3-ActReason code: "TREAT", or "BTG" for break-the-glass
    reason: str | None = None  # free text stated for break-the-glass
    request_id: str | None = None
    source_address: str | None = None
    recorded_us: int = 0  # epoch microseconds; 0 = now


def now_us() -> int:
    return time.time_ns() // 1000


def audit_event(record: AccessRecord, observer: str) -> dict[str, Any]:
    """The AuditEvent resource (R4) for one record; ``observer`` is the server's base URL."""
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "type": REST,
        "subtype": _subtype(record),
        "action": ACTIONS.get(record.interaction, "E"),
        "recorded": format_instant(record.recorded_us or now_us()),
        "outcome": OUTCOME_CODES[record.outcome],
        "outcomeDesc": f"{record.outcome} (HTTP {record.status})",
    }
    if record.purpose:
        event["purposeOfEvent"] = [{"coding": [_purpose(record.purpose)]}]
    event["agent"] = _agents(record, observer)
    event["source"] = {
        "observer": {"identifier": {"system": "urn:ietf:rfc:3986", "value": observer}, "display": observer},
        "type": [APPLICATION_SERVER],
    }
    if entities := _entities(record, observer):
        event["entity"] = entities
    return event


def _subtype(record: AccessRecord) -> list[dict[str, str]]:
    codings = [{"system": INTERACTION, "code": record.interaction}]
    if record.operation:
        codings.append({"code": record.operation, "display": f"operation {record.operation}"})
    return codings


def _purpose(code: str) -> dict[str, str]:
    coding = {"system": ACT_REASON, "code": code}
    if code in PURPOSE_DISPLAY:
        coding["display"] = PURPOSE_DISPLAY[code]
    return coding


def _network(address: str) -> dict[str, str]:
    """Type 2 for an IP address, 1 for a machine name (https://hl7.org/fhir/R4/valueset-network-type.html)."""
    return {"address": address, "type": _network_type(address)}


@lru_cache(maxsize=1024)
def _network_type(address: str) -> str:
    """Remembered: the same few clients call again and again, and parsing an address costs ~15 µs."""
    try:
        ipaddress.ip_address(address)
    except ValueError:
        return "1"
    return "2"


def _agents(record: AccessRecord, observer: str) -> list[dict[str, Any]]:
    """The requestor first: the user, else the client (a system client), else an anonymous caller."""
    requestor: dict[str, Any] = {
        "type": {"coding": [RECIPIENT if ACTIONS.get(record.interaction, "E") in ("R", "E") else AUTHOR]},
        "role": [{"coding": [{"system": ACTOR_KIND, "code": record.actor_kind}]}],
        "requestor": True,
    }
    if record.actor_kind == "patient":
        requestor["type"]["coding"].append(PATIENT_USER)
    if record.purpose:
        purpose: dict[str, Any] = {"coding": [_purpose(record.purpose)]}
        if record.reason:
            purpose["text"] = record.reason
        requestor["purposeOfUse"] = [purpose]
    client: dict[str, Any] | None = None
    if record.client_id:
        client = {"type": {"coding": [SOURCE_ROLE]}, "who": {"identifier": {"value": record.client_id}}}
    if record.who:
        requestor["who"] = {"reference": record.who}
    elif client is not None:  # the client acts on its own behalf: it is the requestor
        requestor["type"]["coding"].insert(0, SOURCE_ROLE)
        requestor["who"] = client["who"]
        client = None
    else:
        requestor["name"] = record.actor_kind
    agents = [requestor]
    if client is not None:
        client["requestor"] = False
        agents.append(client)
    if record.source_address:
        agents[-1]["network"] = _network(record.source_address)
    agents.append(
        {"type": {"coding": [DESTINATION_ROLE]}, "requestor": False, "network": {"address": observer, "type": "5"}}
    )
    return agents


def _request_url(record: AccessRecord, observer: str, query: str) -> str:
    """The requested URL with its query, as the R4 search example encodes it in entity.query."""
    parts = [observer.rstrip("/"), record.resource_type, record.resource_id]
    if record.interaction.startswith("history"):
        parts.append("_history")
    parts.append(record.operation)
    return "/".join(p for p in parts if p) + "?" + query.lstrip("?")


def _entities(record: AccessRecord, observer: str) -> list[dict[str, Any]]:
    entities: list[dict[str, Any]] = []
    if record.request_id:
        entities.append({"what": {"identifier": {"value": record.request_id}}, "type": REQUEST_ID})
    if record.query:
        query = base64.b64encode(_request_url(record, observer, record.query).encode()).decode("ascii")
        entities.append({"type": SYSTEM_OBJECT, "role": QUERY_ROLE, "query": query})
    for patient_id in dict.fromkeys(record.patients):
        entities.append({"what": {"reference": f"Patient/{patient_id}"}, "type": PERSON, "role": PATIENT_ROLE})
    resources = list(dict.fromkeys(record.resources))
    if not all(resources) or not all(record.patients):  # stored unvalidated: never write a blank reference
        raise ValueError(f"blank reference in an audit record: {record}")
    if record.resource_type and record.resource_id:  # the target, even when nothing was returned (a denial)
        target = f"{record.resource_type}/{record.resource_id}"
        if not any(r == target or r.startswith(target + "/_history/") for r in resources):
            resources.insert(0, target)
    for reference in resources[:MAX_RESOURCE_ENTITIES]:
        entities.append({"what": {"reference": reference}, "type": SYSTEM_OBJECT, "role": RESOURCE_ROLE})
    if len(resources) > MAX_RESOURCE_ENTITIES:
        omitted = len(resources) - MAX_RESOURCE_ENTITIES
        entities.append(
            {
                "type": SYSTEM_OBJECT,
                "description": f"{len(resources)} resources; only the first {MAX_RESOURCE_ENTITIES} are listed",
                "detail": [{"type": "omitted-resources", "valueString": str(omitted)}],
            }
        )
    return entities
