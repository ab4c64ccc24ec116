"""The audit trail: AuditEvents (https://hl7.org/fhir/R4/auditevent.html) shaped as IHE BALP RESTful
events (https://profiles.ihe.net/ITI/BALP/), written in batches through the app's Repository and
found with ``AuditEvent?patient=`` on both backends."""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

import orjson
import pytest
from support import BASE

from fhir_server.errors import Forbidden, ServiceUnavailable
from fhir_server.fhir.repository import Repository, format_instant
from fhir_server.fhir.validation import validate_structure
from fhir_server.security.audit import AccessRecord, AuditTrail, audit_event
from fhir_server.security.audit_events import MAX_RESOURCE_ENTITIES
from fhir_server.store.base import StoredVersion

PRACTITIONER_READ = AccessRecord(
    "read",
    "success",
    200,
    "practitioner",
    "mr-app",
    "Practitioner/dr1",
    resource_type="Patient",
    resource_id="x",
    patients=("x",),
    resources=("Patient/x",),
    purpose="TREAT",
    request_id="req-1",
    source_address="192.0.2.7",
    recorded_us=1_735_689_600_000_000,
)


def make(**changes: Any) -> AccessRecord:
    return replace(PRACTITIONER_READ, **changes)


def requestor(event: dict) -> dict:
    (agent,) = [a for a in event["agent"] if a["requestor"]]
    return agent


def type_codes(agent: dict) -> list[str]:
    return [c["code"] for c in agent["type"]["coding"]]


def listed(event: dict, role: str) -> list[str]:
    """what.reference of the entities with this object-role code (1 Patient, 4 Domain Resource)."""
    return [e["what"]["reference"] for e in event.get("entity", []) if e.get("role", {}).get("code") == role]


def queries(event: dict) -> list[str]:
    return [base64.b64decode(e["query"]).decode() for e in event.get("entity", []) if "query" in e]


CASES: dict[str, tuple[AccessRecord, dict[str, Any]]] = {
    "read": (
        PRACTITIONER_READ,
        {
            "action": "R",
            "outcome": "0",
            "outcomeDesc": "success (HTTP 200)",
            "who": {"reference": "Practitioner/dr1"},
            "user_types": ["IRCP"],
            "purpose": "TREAT",
            "patients": ["Patient/x"],
            "resources": ["Patient/x"],
            "queries": [],
        },
    ),
    "search with query": (
        make(
            interaction="search-type",
            resource_type="Condition",
            resource_id=None,
            resources=("Condition/c1", "Condition/c2"),
            query="subject=Patient/x&code=E11",
        ),
        {
            "action": "E",
            "outcome": "0",
            "patients": ["Patient/x"],
            "resources": ["Condition/c1", "Condition/c2"],
            "queries": [f"{BASE}/Condition?subject=Patient/x&code=E11"],
        },
    ),
    "denial": (
        make(
            outcome="denied",
            status=403,
            actor_kind="related-person",
            who="RelatedPerson/y",
            resource_type="Composition",
            resource_id="resume-x",
            resources=(),
            purpose=None,
        ),
        {
            "action": "R",
            "outcome": "4",
            "outcomeDesc": "denied (HTTP 403)",
            "who": {"reference": "RelatedPerson/y"},
            "purpose": None,
            "patients": ["Patient/x"],
            "resources": ["Composition/resume-x"],  # the target, although nothing was returned
        },
    ),
    "break the glass": (
        make(purpose="BTG", reason="unconscious at the emergency ward"),
        {"action": "R", "outcome": "0", "purpose": "BTG", "reason": "unconscious at the emergency ward"},
    ),
    "error": (
        make(interaction="create", outcome="error", status=500, resource_type="Claim", resource_id=None, resources=()),
        {"action": "C", "outcome": "8", "outcomeDesc": "error (HTTP 500)", "user_types": ["AUT"], "resources": []},
    ),
    "system client operation": (
        make(
            interaction="operation",
            actor_kind="system",
            client_id="cns-batch",
            who=None,
            operation="$mr-status",
            resources=(),
            purpose=None,
        ),
        {
            "action": "E",
            "subtype": ["operation", "$mr-status"],
            "who": {"identifier": {"value": "cns-batch"}},
            "user_types": ["110153", "IRCP"],
            "agents": 2,  # the client is the requestor; then the server
        },
    ),
    "anonymous": (
        make(
            interaction="capabilities",
            actor_kind="anonymous",
            client_id=None,
            who=None,
            resource_type=None,
            resource_id=None,
            patients=(),
            resources=(),
            purpose=None,
            request_id=None,
        ),
        {"action": "R", "name": "anonymous", "agents": 2, "patients": [], "resources": []},
    ),
    "patient reads own record": (
        make(actor_kind="patient", client_id="patient-app", who="Patient/x"),
        {"who": {"reference": "Patient/x"}, "user_types": ["IRCP", "PAT"], "patients": ["Patient/x"]},
    ),
}


@pytest.mark.parametrize(("record", "expected"), CASES.values(), ids=CASES.keys())
def test_event_shape(record: AccessRecord, expected: dict[str, Any]) -> None:
    event = audit_event(record, BASE)
    validate_structure(event, "AuditEvent")  # the server's own validation (fhir.resources R4B model)
    assert event["type"]["code"] == "rest"
    assert event["subtype"][0]["system"] == "http://hl7.org/fhir/restful-interaction"
    assert [c["code"] for c in event["subtype"]] == expected.get("subtype", [record.interaction])
    assert event["recorded"] == format_instant(record.recorded_us)
    assert event["source"]["observer"]["identifier"]["value"] == BASE
    user = requestor(event)
    assert user["role"][0]["coding"][0]["code"] == record.actor_kind
    checks = {
        "action": lambda: event["action"],
        "outcome": lambda: event["outcome"],
        "outcomeDesc": lambda: event["outcomeDesc"],
        "who": lambda: user.get("who"),
        "name": lambda: user.get("name"),
        "user_types": lambda: type_codes(user),
        "agents": lambda: len(event["agent"]),
        "purpose": lambda: event["purposeOfEvent"][0]["coding"][0]["code"] if "purposeOfEvent" in event else None,
        "reason": lambda: user["purposeOfUse"][0]["text"],
        "patients": lambda: listed(event, "1"),
        "resources": lambda: listed(event, "4"),
        "queries": lambda: queries(event),
    }
    assert {key: checks[key]() for key in expected if key in checks} == {
        key: value for key, value in expected.items() if key in checks
    }


def test_btg_purpose_of_use_on_the_user() -> None:
    user = requestor(audit_event(make(purpose="BTG", reason="coma"), BASE))
    assert user["purposeOfUse"] == [
        {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                    "code": "BTG",
                    "display": "break the glass",
                }
            ],
            "text": "coma",
        }
    ]


def test_client_and_network_address_on_the_client_agent() -> None:
    event = audit_event(PRACTITIONER_READ, BASE)
    client, server = event["agent"][1:]
    assert client == {
        "type": {
            "coding": [
                {
                    "system": "http://dicom.nema.org/resources/ontology/DCM",
                    "code": "110153",
                    "display": "Source Role ID",
                }
            ]
        },
        "who": {"identifier": {"value": "mr-app"}},
        "requestor": False,
        "network": {"address": "192.0.2.7", "type": "2"},
    }
    assert server["type"]["coding"][0]["code"] == "110152" and server["network"] == {"address": BASE, "type": "5"}
    request_ids = [e["what"]["identifier"]["value"] for e in event["entity"] if e["type"]["code"] == "XrequestId"]
    assert request_ids == ["req-1"]


def test_versioned_target_is_listed_once() -> None:
    event = audit_event(make(interaction="vread", resources=("Patient/x/_history/2",)), BASE)
    assert listed(event, "4") == ["Patient/x/_history/2"]


def test_entities_capped_with_a_note() -> None:
    resources = tuple(f"Condition/c{i}" for i in range(250))
    event = audit_event(
        make(interaction="search-type", resource_type="Condition", resource_id=None, resources=resources), BASE
    )
    validate_structure(event, "AuditEvent")
    assert listed(event, "4") == list(resources[:MAX_RESOURCE_ENTITIES])
    (note,) = [e for e in event["entity"] if "what" not in e and "query" not in e]
    assert note["description"] == "250 resources; only the first 100 are listed"
    assert note["detail"] == [{"type": "omitted-resources", "valueString": "150"}]


# -- the trail on a real store ------------------------------------------------------------------------


@dataclass
class TransactionLog:
    """A WriteHook (the Repository's extension point) that sees each AuditEvent written: checks run
    inside a transaction, ``committed`` after its commit, so the runs of commits are the transactions."""

    fail: Callable[[dict], Exception | None] = lambda resource: None
    steps: list[str] = field(default_factory=list)
    committed_ids: list[str] = field(default_factory=list)

    def check(self, resource: dict[str, Any]) -> None:
        if resource.get("resourceType") == "AuditEvent":
            self.steps.append("check")
            if (error := self.fail(resource)) is not None:
                raise error

    def committed(self, version: StoredVersion) -> None:
        if version.type == "AuditEvent":
            self.steps.append("commit")
            self.committed_ids.append(version.id)

    @property
    def transactions(self) -> int:
        runs = "".join("c" if s == "commit" else "." for s in self.steps).split(".")
        return sum(1 for run in runs if run)


def request_ids(resource: dict) -> list[str]:
    return [e["what"]["identifier"]["value"] for e in resource.get("entity", []) if e["type"]["code"] == "XrequestId"]


async def stored_request_ids(repository: Repository, *params: tuple[str, str]) -> list[str]:
    _, page, _ = await repository.search("AuditEvent", [*params, ("_count", "1000")])
    return sorted(rid for version in page.items for rid in request_ids(orjson.loads(version.body or b"{}")))


def tagged(tag: str, n: int, **changes: Any) -> list[AccessRecord]:
    """n records about a Patient only these records touch, so that the store can be asked for them."""
    return [make(request_id=f"{tag}-{i:03d}", patients=(tag,), resources=(), **changes) for i in range(n)]


def run_with_trail(
    client, scenario: Callable[[AuditTrail, Repository, TransactionLog], Awaitable[None]], **options: Any
) -> TransactionLog:
    """Run ``scenario`` on the app's event loop with a started trail over the app's Repository."""
    repository: Repository = client.app.state.repository
    hook = options.pop("hook", TransactionLog())
    repository.hooks.append(hook)

    async def main() -> None:
        trail = AuditTrail(repository, BASE, **options)
        await trail.start()
        try:
            await scenario(trail, repository, hook)
        finally:
            await trail.close()

    try:
        client.portal.call(main)
    finally:
        repository.hooks.remove(hook)
    return hook


def test_patient_search_finds_exactly_the_events_touching_the_patient(client) -> None:
    records = [
        make(request_id="x-read"),  # about x
        make(request_id="y-read", resource_id="y", patients=("y",), resources=("Patient/y",)),
        make(  # a search returning both
            request_id="xy-search",
            interaction="search-type",
            resource_type="Condition",
            resource_id=None,
            patients=("x", "y"),
            resources=("Condition/cx", "Condition/cy"),
            query="code=E11",
        ),
        make(  # x as the agent only: found through agent.who
            request_id="x-self",
            interaction="search-type",
            actor_kind="patient",
            who="Patient/x",
            resource_type="AuditEvent",
            resource_id=None,
            patients=(),
            resources=(),
        ),
        make(
            request_id="x-denied",
            outcome="denied",
            status=403,
            resource_type="Condition",
            resource_id="cx",
            resources=(),
        ),
        make(request_id="other", resource_id="z", patients=("z",), resources=("Patient/z",)),
    ]

    async def scenario(trail: AuditTrail, repository: Repository, hook: TransactionLog) -> None:
        for record in records:
            trail.record(record)
        await trail.flush()

    run_with_trail(client, scenario)

    def found(query: str) -> list[str]:
        r = client.get(f"/AuditEvent?{query}&_count=100")
        assert r.status_code == 200, r.text
        return sorted(rid for e in r.json().get("entry", []) for rid in request_ids(e["resource"]))

    assert found("patient=x") == ["x-denied", "x-read", "x-self", "xy-search"]
    assert found("patient=Patient/y") == ["xy-search", "y-read"]
    assert found("patient=x&outcome=4") == ["x-denied"]
    assert found("patient=x&subtype=search-type") == ["x-self", "xy-search"]
    assert found("patient=nobody") == []


def test_batches_are_one_transaction_each(client) -> None:
    records = tagged("batched", 45)

    async def scenario(trail: AuditTrail, repository: Repository, hook: TransactionLog) -> None:
        for record in records:  # queued in one go: the writer sees them all at once
            trail.record(record)
        await trail.flush()
        assert await stored_request_ids(repository, ("patient", "batched")) == [r.request_id for r in records]

    hook = run_with_trail(client, scenario, batch_size=20)
    assert hook.transactions == 3  # 20 + 20 + 5
    assert len(hook.committed_ids) == 45


def test_flush_interval_writes_without_a_flush(client) -> None:
    async def scenario(trail: AuditTrail, repository: Repository, hook: TransactionLog) -> None:
        for record in tagged("lazy", 3):
            trail.record(record)
        for _ in range(200):  # nobody hurries the writer: the interval alone brings them to the store
            if len(hook.committed_ids) == 3:
                break
            await asyncio.sleep(0.05)
        assert await stored_request_ids(repository, ("patient", "lazy")) == ["lazy-000", "lazy-001", "lazy-002"]

    hook = run_with_trail(client, scenario, flush_interval=0.02)
    assert hook.transactions == 1


def test_record_now_returns_once_readable_and_takes_the_queue_along(client) -> None:
    async def scenario(trail: AuditTrail, repository: Repository, hook: TransactionLog) -> None:
        for record in tagged("queued", 4):
            trail.record(record)
        await trail.record_now(make(request_id="btg", patients=("queued",), purpose="BTG", reason="coma"))
        # committed before record_now returned, without waiting for the (one hour) interval
        stored = await stored_request_ids(repository, ("patient", "queued"))
        assert stored == ["btg", "queued-000", "queued-001", "queued-002", "queued-003"]

    hook = run_with_trail(client, scenario, flush_interval=3600)
    assert hook.transactions == 1  # group commit: one transaction for the waiting record and the queue


def test_flush_and_close(client, caplog: pytest.LogCaptureFixture) -> None:
    repository: Repository = client.app.state.repository
    trail = AuditTrail(repository, BASE, flush_interval=3600)

    async def main() -> list[str]:
        await trail.start()
        await trail.flush()  # nothing queued: returns at once
        trail.record(make(request_id="f-1", patients=("fc",)))
        await trail.flush()
        after_flush = await stored_request_ids(repository, ("patient", "fc"))
        trail.record(make(request_id="f-2", patients=("fc",)))
        await trail.close()  # flushes first
        assert await stored_request_ids(repository, ("patient", "fc")) == ["f-1", "f-2"]
        trail.record(make(request_id="f-3", patients=("fc",)))  # closed: counted and logged, never raised
        with pytest.raises(ServiceUnavailable):
            await trail.record_now(make(request_id="f-4", patients=("fc",)))
        await trail.close()  # twice is fine
        await trail.flush()  # nothing more can be waited for
        return after_flush

    with caplog.at_level(logging.ERROR, logger="fhir_server.security.audit_trail"):
        assert client.portal.call(main) == ["f-1"]
    assert trail.dropped == 2
    assert "the audit trail is closed" in caplog.text
    assert client.portal.call(stored_request_ids, repository, ("patient", "fc")) == ["f-1", "f-2"]


def test_full_queue_drops_are_counted_and_logged(client, caplog: pytest.LogCaptureFixture) -> None:
    repository: Repository = client.app.state.repository
    trail = AuditTrail(repository, BASE, max_queue=3)

    async def main() -> None:
        for record in tagged("full", 5):  # the writer is not running yet: the queue fills up
            trail.record(record)
        with pytest.raises(ServiceUnavailable):
            await trail.record_now(make(request_id="full-now", patients=("full",)))
        await trail.start()
        await trail.close()

    with caplog.at_level(logging.ERROR, logger="fhir_server.security.audit_trail"):
        client.portal.call(main)
    assert trail.dropped == 3
    assert "the audit queue is full (3 records waiting" in caplog.text
    assert client.portal.call(stored_request_ids, repository, ("patient", "full")) == [
        "full-000",
        "full-001",
        "full-002",
    ]


def test_record_never_raises_into_the_request(client, caplog: pytest.LogCaptureFixture) -> None:
    async def scenario(trail: AuditTrail, repository: Repository, hook: TransactionLog) -> None:
        trail.record("not an AccessRecord")  # type: ignore[arg-type]
        assert trail.dropped == 1

    with caplog.at_level(logging.ERROR, logger="fhir_server.security.audit_trail"):
        run_with_trail(client, scenario)
    assert "audit record could not be queued: 'not an AccessRecord'" in caplog.text


BAD_RECORDS = {  # record, what the log says about it
    "blank reference": (make(patients=("mixed",), resources=("",)), "resources=('',)"),
    "cannot be built": (make(patients=("mixed",), outcome="maybe"), "outcome='maybe'"),
}


@pytest.mark.parametrize(("bad", "logged"), BAD_RECORDS.values(), ids=BAD_RECORDS.keys())
def test_a_bad_record_is_skipped_and_the_batch_written(
    client, bad: AccessRecord, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def scenario(trail: AuditTrail, repository: Repository, hook: TransactionLog) -> None:
        good = tagged("mixed", 4)
        for record in [*good[:2], replace(bad, request_id="bad"), *good[2:]]:
            trail.record(record)
        await trail.flush()
        assert await stored_request_ids(repository, ("patient", "mixed")) == [r.request_id for r in good]
        assert trail.dropped == 1
        with pytest.raises(ServiceUnavailable):
            await trail.record_now(replace(bad, request_id="bad-now"))
        assert trail.dropped == 2

    with caplog.at_level(logging.ERROR, logger="fhir_server.security.audit_trail"):
        hook = run_with_trail(client, scenario)
    assert hook.transactions == 1
    assert logged in caplog.text  # the lost record is in the log


def test_a_record_refused_by_a_hook_is_skipped(client) -> None:
    """A refusal (a FhirError such as 403 from a guard or hook) skips the record, not the batch."""

    def refuse(resource: dict) -> Exception | None:
        return Forbidden("not this one") if "refused" in request_ids(resource) else None

    async def scenario(trail: AuditTrail, repository: Repository, hook: TransactionLog) -> None:
        for record in [*tagged("hooked", 2), make(request_id="refused", patients=("hooked",))]:
            trail.record(record)
        await trail.flush()
        assert await stored_request_ids(repository, ("patient", "hooked")) == ["hooked-000", "hooked-001"]
        assert trail.dropped == 1

    hook = run_with_trail(client, scenario, hook=TransactionLog(fail=refuse))
    assert hook.transactions == 1


def test_store_failures_are_retried_and_the_writer_survives(client, caplog: pytest.LogCaptureFixture) -> None:
    failures = iter(range(3))

    def failing_store(resource: dict) -> Exception | None:  # the first three writes fail, as an unreachable store
        return RuntimeError("store unreachable") if next(failures, None) is not None else None

    async def scenario(trail: AuditTrail, repository: Repository, hook: TransactionLog) -> None:
        for record in tagged("retried", 6):
            trail.record(record)
        await trail.flush()
        assert await stored_request_ids(repository, ("patient", "retried")) == [f"retried-{i:03d}" for i in range(6)]
        await trail.record_now(make(request_id="retried-later", patients=("retried",)))  # still writing
        assert trail.dropped == 0

    with caplog.at_level(logging.ERROR, logger="fhir_server.security.audit_trail"):
        hook = run_with_trail(client, scenario, hook=TransactionLog(fail=failing_store))
    assert "not written (attempt 1); retrying" in caplog.text
    assert len(hook.committed_ids) == 7  # nothing written twice, nothing lost


def test_a_record_the_store_keeps_failing_on_is_isolated_and_logged(client, caplog: pytest.LogCaptureFixture) -> None:
    def poison(resource: dict) -> Exception | None:
        return RuntimeError("cannot store this one") if "poison" in request_ids(resource) else None

    async def scenario(trail: AuditTrail, repository: Repository, hook: TransactionLog) -> None:
        records = tagged("poisoned", 5)
        records.insert(2, make(request_id="poison", patients=("poisoned",)))
        for record in records:
            trail.record(record)
        await trail.flush()
        assert await stored_request_ids(repository, ("patient", "poisoned")) == [f"poisoned-{i:03d}" for i in range(5)]
        assert trail.dropped == 1

    with caplog.at_level(logging.ERROR, logger="fhir_server.security.audit_trail"):
        run_with_trail(client, scenario, hook=TransactionLog(fail=poison))
    assert "AuditEvent dropped, the store keeps failing on it" in caplog.text and '"poison"' in caplog.text
