"""Conditional creates racing on the same criteria, shared by tests/reliability/test_write_races.py
(one or two processes on SQLite) and tests/process/test_mongo_conditional_races.py (two processes
on one MongoDB)."""

from __future__ import annotations

import httpx

FHIR_HEADERS = {"Content-Type": "application/fhir+json", "Accept": "application/fhir+json"}
SYSTEM = "urn:test:race"
ROUTES = 3
"""The ways to create a Patient only if none has an identifier: 0 If-None-Exist, 1 conditional
update, 2 a transaction entry with ifNoneExist."""


def conditional_create(client: httpx.AsyncClient, route: int, value: str):
    """Create a Patient with identifier ``SYSTEM|value`` unless one exists, by route ``route`` (0 to
    ``ROUTES - 1``); the request, to await."""
    criteria = f"identifier={SYSTEM}|{value}"
    body = {"resourceType": "Patient", "identifier": [{"system": SYSTEM, "value": value}]}
    if route == 0:
        return client.post("/Patient", json=body, headers={**FHIR_HEADERS, "If-None-Exist": criteria})
    if route == 1:
        return client.put(f"/Patient?{criteria}", json=body, headers=FHIR_HEADERS)
    entry = {"resource": body, "request": {"method": "POST", "url": "Patient", "ifNoneExist": criteria}}
    bundle = {"resourceType": "Bundle", "type": "transaction", "entry": [entry]}
    return client.post("/", json=bundle, headers=FHIR_HEADERS)


def created(response: httpx.Response) -> bool:
    """Whether this racer's answer (a success, asserted) says it created the resource."""
    assert response.status_code in (200, 201), response.text
    body = response.json()
    if body["resourceType"] == "Bundle":
        return body["entry"][0]["response"]["status"].startswith("201")
    return response.status_code == 201
