"""The access decision for one request (architecture.md, "Security"): every interaction,
search and operation asks its :class:`AccessContext`, which knows the caller, computes once
what they may see (a :class:`Visibility`) and remembers what was touched for the audit.

Hidden and non-existent resources answer alike (404), so a status never betrays existence.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import orjson

from fhir_server.errors import Forbidden, MethodNotAllowed, NotFound
from fhir_server.fhir.lu_resources import mr_member
from fhir_server.fhir.search.restriction import visible
from fhir_server.security.actor import Actor
from fhir_server.security.compartment import CompartmentReader, in_compartment_types
from fhir_server.security.consent import HiddenItems
from fhir_server.security.policy import (
    IMMUTABLE,
    INTERACTION_LETTER,
    OPERATION_ROLES,
    READABLE,
    may_read_type,
    may_write_type,
)
from fhir_server.security.relationships import CareRelations
from fhir_server.security.visibility import EVERYTHING, Visibility
from fhir_server.store.base import StoredVersion, StoreReader


@dataclass
class AccessContext:
    actor: Actor | None  # None: authentication is off (local development)
    relations: CareRelations | None = None
    compartments: CompartmentReader | None = None
    touched: dict[str | None, list[str]] = field(default_factory=dict)
    """Resources read or written, by the patient whose record holds them (None: no patient's)."""
    denied: bool = False
    audited: bool = False
    """Set once the request's AuditEvents are made: writes of work it started that goes on after it
    (a bulk import job) are not gathered into a record that nobody reads any more."""
    _visibility: Visibility | None = None
    _writable: frozenset[str] | None = None

    # -- what the caller may see and write ---------------------------------------------------

    async def visibility(self) -> Visibility:
        if self._visibility is None:
            self._visibility, self._writable = await self._compute()
        return self._visibility

    async def _writable_patients(self) -> frozenset[str] | None:
        await self.visibility()
        return self._writable

    async def _compute(self) -> tuple[Visibility, frozenset[str] | None]:
        actor = self.actor
        if actor is None or actor.kind == "system":
            return EVERYTHING, None
        readable = READABLE[actor.kind]
        if actor.kind == "cns":
            return Visibility(readable, None), None
        if actor.kind in ("patient", "related-person"):
            own = frozenset([actor.patient_id] if actor.patient_id else [])
            return Visibility(readable, own), own
        assert self.relations is not None and actor.who is not None
        glass = actor.break_glass
        key = (actor.kind, actor.who, glass.patient_id if glass else None, self.relations.today())
        return await self.relations.visibility_cache.get(key, self._compute_professional)

    async def _compute_professional(self) -> tuple[Visibility, frozenset[str] | None]:
        """From the store: whose MR the caller is, which Consents permit or deny them, what is hidden."""
        actor = self.actor
        assert self.relations is not None and self.compartments is not None
        assert actor is not None and actor.who is not None
        readable = READABLE[actor.kind]
        identities = await self.relations.identities(actor.who)
        candidates = await self.relations.mr_patients(identities) | await self.relations.permitting_patients(identities)
        glass = actor.break_glass
        choices = await self.relations.choices(candidates | ({glass.patient_id} if glass else set()))
        allowed = {pid for pid in candidates if not identities & choices[pid].denied_actors}
        hidden: dict[HiddenItems, set[str]] = {}
        for pid in allowed:
            for items in choices[pid].hidden:
                if not items.actors or items.actors & identities:
                    hidden.setdefault(items, set()).add(pid)
        writable = frozenset(allowed)
        if glass is not None:
            if not choices[glass.patient_id].break_the_glass:
                raise Forbidden(f"Patient/{glass.patient_id}'s consent does not allow break-the-glass access")
            allowed.add(glass.patient_id)
            hidden = {items: pids - {glass.patient_id} for items, pids in hidden.items()}
        groups = tuple((items, frozenset(pids)) for items, pids in hidden.items() if pids)
        return Visibility(readable, frozenset(allowed), groups, self.compartments.registry), writable

    # -- checks --------------------------------------------------------------------------------

    def require_scope(self, interaction: str, resource_type: str) -> None:
        """403 when the token's scopes or the caller's role do not cover the interaction on the type."""
        actor = self.actor
        if resource_type in IMMUTABLE and interaction in ("update", "patch", "delete"):
            raise MethodNotAllowed(f"{resource_type} resources are never changed or deleted through the API")
        if actor is None:
            return
        letter = INTERACTION_LETTER[interaction]
        if not actor.may(resource_type, letter):
            self.denied = True
            raise Forbidden(f"The access token's scopes do not allow '{letter}' on {resource_type}")
        role_allows = may_write_type if letter in "cud" else may_read_type
        if not role_allows(actor.kind, resource_type):
            self.denied = True
            raise Forbidden(f"A {actor.kind} client may not {interaction} {resource_type} resources")
        if actor.kind in ("practitioner",) and actor.break_glass is not None and letter in "cud":
            self.denied = True
            raise Forbidden("Break-the-glass access is read-only")

    def require_unconditional(self, what: str) -> None:
        if self.actor is not None and self.actor.kind not in ("system", "cns"):
            self.denied = True
            raise Forbidden(f"Conditional {what} is available to system clients only")

    async def check_visible(self, reader: StoreReader, version: StoredVersion) -> None:
        """404 (as if it did not exist) when the caller may not see the resource."""
        visibility = await self.visibility()
        if not visibility.unrestricted and not await visible(reader, [version], visibility):
            self.denied = True
            self.seen([version])  # the attempt shows in the patient's access log
            raise NotFound(f"{version.type}/{version.id} is not known")
        self.seen([version])

    async def check_write(self, resource_type: str, body: Any) -> None:
        """403 unless the new content belongs to records the caller may write."""
        writable = await self._writable_patients()
        if writable is None or not in_compartment_types(resource_type) or not isinstance(body, dict):
            return
        assert self.compartments is not None and self.actor is not None
        patients = self.compartments.patients(body)
        if patients and patients <= writable:
            return
        if self._own_declaration_or_claim(resource_type, body):
            return
        self.denied = True
        raise Forbidden(
            f"{self.actor.who or self.actor.client_id} may not write this {resource_type}: "
            "it must belong to a patient record you may write"
        )

    def _own_declaration_or_claim(self, resource_type: str, body: dict[str, Any]) -> bool:
        """A professional declares themselves MR (a proposed CareTeam) and submits their own Claims."""
        actor = self.actor
        if actor is None or actor.kind != "practitioner":
            return False
        if resource_type == "CareTeam":
            return body.get("status") == "proposed" and mr_member(body) == actor.who
        if resource_type == "Claim":
            return (body.get("provider") or {}).get("reference") == actor.who
        return False

    def require_operation(self, name: str) -> None:
        roles = OPERATION_ROLES.get(name)
        if self.actor is not None and roles is not None and self.actor.kind not in roles:
            self.denied = True
            raise Forbidden(f"${name} is not available to a {self.actor.kind} client")

    # -- audit -----------------------------------------------------------------------------------

    def seen(self, versions: list[StoredVersion]) -> None:
        if self.actor is None or self.audited:
            return
        for version in versions:
            reference = f"{version.type}/{version.id}/_history/{version.version_id}"
            patients: set[str] = set()
            if self.compartments is not None and version.body is not None and in_compartment_types(version.type):
                patients = self.compartments.patients(orjson.loads(version.body))
            for patient in patients or [None]:
                self.touched.setdefault(patient, []).append(reference)
