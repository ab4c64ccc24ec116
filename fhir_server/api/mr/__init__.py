"""The médecin référent rules (fhir_server.mr) over FHIR: facts read from the store, the
operations of issue 6 ($validate-declaration, $revoke, $end, $mr-status, …) and guards."""
