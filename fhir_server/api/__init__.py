"""HTTP: routes, content negotiation, headers, Bundle handling, errors as OperationOutcome."""
