"""The Luxembourg demo data set, loaded by `fhir-server serve --demo`."""
