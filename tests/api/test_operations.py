"""The operation framework: routing by level, GET vs POST, Parameters input."""

from __future__ import annotations

import pytest

from fhir_server.api.messages import FhirResponse
from fhir_server.api.operations import Operation, OperationCall


async def _echo(call: OperationCall) -> FhirResponse:
    names = sorted(set(call.parameters.names()))
    return FhirResponse(
        200,
        {
            "resourceType": "Parameters",
            "parameter": [
                {"name": "level", "valueString": f"{call.resource_type}/{call.resource_id}"},
                *({"name": n, "valueString": str(call.parameters.text(n))} for n in names if n != "resource"),
            ],
        },
    )


@pytest.fixture
def ops_client(client):
    ops = client.app.state.operations
    ops.register(Operation("echo", "urn:test:echo", _echo, types=("Patient",), system=True, type_level=True))
    ops.register(Operation("poke", "urn:test:poke", _echo, types=("Patient",), instance=True, affects_state=True))
    return client


def _values(r) -> dict[str, str]:
    assert r.status_code == 200, r.text
    return {p["name"]: p["valueString"] for p in r.json()["parameter"]}


def test_get_passes_query_parameters(ops_client):
    assert _values(ops_client.get("/Patient/$echo?code=G35&system=x")) == {
        "level": "Patient/None",
        "code": "G35",
        "system": "x",
    }
    assert _values(ops_client.get("/$echo?a=1"))["level"] == "None/None"


def test_post_takes_a_parameters_body(ops_client):
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "code", "valueCode": "G35"}, {"name": "n", "valueInteger": 3}],
    }
    assert _values(ops_client.post("/Patient/$echo", json=body)) == {"level": "Patient/None", "code": "G35", "n": "3"}


def test_levels_methods_and_unknown_operations(ops_client):
    assert ops_client.get("/Patient/p1/$echo").status_code == 404  # not an instance-level operation
    assert ops_client.get("/Patient/p1/$poke").status_code == 405  # changes state: POST only
    assert _values(ops_client.post("/Patient/p1/$poke", json={"resourceType": "Parameters"}))["level"] == "Patient/p1"
    assert ops_client.get("/Patient/$nothing").status_code == 404
    assert ops_client.get("/Unicorn/$echo").status_code == 404
    r = ops_client.post("/Patient/$echo", json={"resourceType": "Parameters", "parameter": [{"valueString": "x"}]})
    assert r.status_code == 400 and r.json()["resourceType"] == "OperationOutcome"
