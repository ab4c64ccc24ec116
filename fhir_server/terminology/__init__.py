"""Terminology: the files of ``terminology/`` indexed in memory (:class:`TerminologyService`)."""

from fhir_server.terminology.service import TerminologyService

__all__ = ["TerminologyService"]
