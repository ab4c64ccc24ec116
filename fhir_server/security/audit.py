"""Auditing of every access (https://hl7.org/fhir/R4/auditevent.html): what the access-decision
layer imports. Building the AuditEvent: :mod:`.audit_events`; writing it: :mod:`.audit_trail`."""

from fhir_server.security.audit_events import AccessRecord, audit_event
from fhir_server.security.audit_trail import AuditTrail

__all__ = ["AccessRecord", "AuditTrail", "audit_event"]
