"""FHIR mechanics: parsing and validation, search parameters, index extraction, query model."""
