"""Issue 10.1, who may export a Group: the caller must see the Group (system clients within
their scopes; to everyone else a Group is hidden, 404 as for an unknown one, since its member
list names many patients), and each exported type is checked like a Patient-level export's."""

from __future__ import annotations

import pytest
from security_kit import bearer
from test_bulk_access import exported, kick_off, manifest
from test_consent_effects import CONDITION, MARIE, WEBER

JEAN = "lu-patient-jean-wagner"


@pytest.fixture(scope="module")
def group_id(secured) -> str:
    """A Group of Marie and Jean, written by a system client."""
    client, tokens = secured
    group = {
        "resourceType": "Group",
        "type": "person",
        "actual": True,
        "member": [{"entity": {"reference": f"Patient/{pid}"}} for pid in (MARIE, JEAN)],
    }
    response = client.post("/Group", json=group, headers=bearer(tokens.system("ehr")))
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_system_client_exports_the_members_records(secured, group_id: str) -> None:
    client, tokens = secured
    found = exported(client, tokens.system("ehr"), f"/Group/{group_id}/$export")
    assert {r for r in found if r.startswith("Patient/")} == {f"Patient/{MARIE}", f"Patient/{JEAN}"}
    assert f"Condition/{CONDITION}" in found
    assert not any(r.startswith(("Practitioner/", "Organization/", "Group/")) for r in found)


def test_types_outside_the_scopes_are_not_exported(secured, group_id: str) -> None:
    client, tokens = secured
    token = tokens.system("ehr", scope="system/Group.rs system/Patient.rs")
    assert exported(client, token, f"/Group/{group_id}/$export") == {f"Patient/{MARIE}", f"Patient/{JEAN}"}
    result = manifest(client, token, kick_off(client, token, f"/Group/{group_id}/$export?_type=Patient,Condition"))
    assert [item["type"] for item in result["output"]] == ["Patient"]
    assert [item["type"] for item in result["error"]] == ["OperationOutcome"]


def test_without_read_access_to_groups_the_export_is_refused(secured, group_id: str) -> None:
    client, tokens = secured
    token = tokens.system("ehr", scope="system/Patient.rs")
    response = client.get(f"/Group/{group_id}/$export", headers=bearer(token, Prefer="respond-async"))
    assert response.status_code == 403, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


@pytest.mark.parametrize("who", ["practitioner", "patient", "cns"])
def test_a_group_is_hidden_from_other_callers(secured, group_id: str, who: str) -> None:
    client, tokens = secured
    token = {
        "practitioner": lambda: tokens.practitioner(WEBER),  # Marie's MR: her record yes, the Group no
        "patient": lambda: tokens.patient(MARIE),  # a member
        "cns": lambda: tokens.system("cns", scope="system/*.rs"),
    }[who]()
    for path in (f"/Group/{group_id}/$export", "/Group/no-such-group/$export"):
        response = client.get(path, headers=bearer(token, Prefer="respond-async"))
        assert response.status_code == 404, response.text  # exists or not: the same answer
        assert response.json()["resourceType"] == "OperationOutcome"
    assert client.get(f"/Group/{group_id}", headers=bearer(token)).status_code == 403  # the role never reads Groups


def test_an_unknown_group_is_404(secured) -> None:
    client, tokens = secured
    response = client.get("/Group/no-such-group/$export", headers=bearer(tokens.system("ehr"), Prefer="respond-async"))
    assert response.status_code == 404, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
