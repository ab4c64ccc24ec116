"""FHIR R4 server for Luxembourg's médecin référent scheme."""

__version__ = "0.1.0"
FHIR_VERSION = "4.0.1"
