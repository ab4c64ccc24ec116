"""The entrance: every FHIR request gets an :class:`AccessContext` from its bearer token
(401 without a valid one), and leaves an AuditEvent behind.

The context lives in a ContextVar for the duration of the request, so that batch and
transaction entries, operations and the repository's write guard all ask the same one.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from contextvars import ContextVar
from dataclasses import replace
from typing import Any

from fhir_server.security.actor import actor_from_claims
from fhir_server.security.audit import AccessRecord, AuditTrail
from fhir_server.security.compartment import CompartmentReader
from fhir_server.security.context import AccessContext
from fhir_server.security.relationships import CareRelations
from fhir_server.security.tokens import TokenVerifier

BACKPRESSURE = 5_000
"""Queued audit records beyond which a request waits for its own to be written: under sustained
load callers slow down to the pace of the audit trail instead of accesses going unrecorded."""
_current: ContextVar[AccessContext | None] = ContextVar("access_context", default=None)


def current_access() -> AccessContext:
    """The request's context; outside requests (start-up, background tasks) an unrestricted one."""
    return _current.get() or AccessContext(None)


def enter(context: AccessContext) -> object:
    return _current.set(context)


def leave(token: Any) -> None:
    _current.reset(token)


class AccessGate:
    def __init__(
        self,
        verifier: TokenVerifier,
        relations: CareRelations,
        compartments: CompartmentReader,
        cns_clients: frozenset[str],
        trail: AuditTrail,
    ):
        self.verifier = verifier
        self.relations = relations
        self.compartments = compartments
        self.cns_clients = cns_clients
        self.trail = trail

    def open(self, headers: Mapping[str, str]) -> AccessContext:
        """The caller's context; raises 401 (or 400 for a malformed break-the-glass request)."""
        claims = self.verifier.verify(headers)
        actor = actor_from_claims(claims, self.cns_clients, headers)
        return AccessContext(actor, self.relations, self.compartments)

    async def audit(
        self,
        context: AccessContext | None,
        interaction: str,
        status: int,
        segments: list[str],
        query: str,
        headers: Mapping[str, str],
        client_address: str | None,
    ) -> None:
        """One AuditEvent per patient record touched (so a patient's access log names no other
        patient), or one for the request when it touched none. Break-the-glass is written before
        the answer leaves; the rest in the trail's next batch."""
        actor = context.actor if context is not None else None
        resource_type = segments[0] if segments and not segments[0].startswith(("$", "_")) else None
        resource_id = segments[1] if len(segments) >= 2 and not segments[1].startswith(("$", "_")) else None
        denied = status in (401, 403) or (context is not None and context.denied)
        glass = actor.break_glass if actor is not None else None
        base = AccessRecord(
            interaction=interaction,
            outcome="denied" if denied else "error" if status >= 400 else "success",
            status=status,
            actor_kind=actor.kind if actor is not None else "anonymous",
            client_id=actor.client_id if actor is not None else None,
            who=actor.who if actor is not None else None,
            resource_type=resource_type,
            resource_id=resource_id,
            operation=segments[-1] if segments and segments[-1].startswith("$") else None,
            query=query or None,
            purpose="BTG" if glass is not None else "TREAT",
            reason=glass.reason if glass is not None else None,
            request_id=headers.get("x-request-id"),
            source_address=client_address,
            recorded_us=time.time_ns() // 1000,
        )
        touched = dict(context.touched) if context is not None else {}
        if context is not None:
            context.audited = True
        if glass is not None:
            touched.setdefault(glass.patient_id, [])
        records = [
            replace(base, patients=(patient,) if patient else (), resources=tuple(resources))
            for patient, resources in touched.items()
        ] or [base]
        for record in records:
            if glass is not None or self.trail.backlog >= BACKPRESSURE:
                await self.trail.record_now(record)  # raises 503 when it cannot be stored
            else:
                self.trail.record(record)
