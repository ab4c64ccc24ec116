"""Canonical URLs of the test profiles built in conftest.py (test modules import them from here)."""

TEST_PATIENT = "https://fhir.mr.lu/test/StructureDefinition/test-patient"
TEST_EXT = "https://fhir.mr.lu/test/StructureDefinition/test-dsp"
MATRICULE = "urn:oid:1.3.182.4.4"
