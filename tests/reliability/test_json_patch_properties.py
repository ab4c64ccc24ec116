"""Hypothesis: JSON Patch over real HTTP never corrupts stored state (issue 11.3).

Any patch document — valid or not, applicable or not, with a right or wrong If-Match — is
either applied exactly (the stored resource is what RFC 6902 gives, one version later) or
refused with a 4xx OperationOutcome, and then the resource is byte for byte what it was. Inside
a transaction, a refused patch takes the transaction's other entries down with it.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import httpx
import jsonpatch
import pytest
from hypothesis import given
from hypothesis import strategies as st
from reliability_kit import JSON_HEADERS, SCALE, assert_outcome, property_settings

PATCH_HEADERS = {"Content-Type": "application/json-patch+json", "Accept": "application/fhir+json"}
TAG_SYSTEM = "urn:test:patch-property"
PATHS = [
    "",
    "/",
    "/name",
    "/name/0",
    "/name/0/family",
    "/name/0/given/0",
    "/name/-",
    "/name/7",
    "/name/x",
    "/birthDate",
    "/gender",
    "/active",
    "/telecom",
    "/telecom/-",
    "/id",
    "/resourceType",
    "/meta",
    "/meta/versionId",
    "/extension",
    "/a~1b",
    "/~2",
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)
plausible = st.sampled_from(
    ["Weber", "1980-02-29", "1980-13-01", "female", "unknown-gender", True, {"family": "Muller"}, [{"family": "Hoss"}]]
)
operations = st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "remove", "replace", "move", "copy", "test", "bogus"])},
    optional={
        "path": st.sampled_from(PATHS) | st.text(max_size=6),
        "from": st.sampled_from(PATHS),
        "value": plausible | json_values,
    },
)
patches = st.lists(operations, max_size=4) | json_values


@pytest.fixture(scope="module")
def client(demo_server) -> httpx.Client:
    with demo_server.client() as c:
        yield c


@pytest.fixture(scope="module")
def patient_id(client: httpx.Client) -> str:
    body = {"resourceType": "Patient", "name": [{"family": "Patch", "given": ["Hypo"]}], "gender": "female"}
    response = client.post("/Patient", json=body, headers=JSON_HEADERS)
    assert response.status_code == 201, response.text
    return response.json()["id"]


def without_meta(resource: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in resource.items() if k != "meta"}


def expected_result(before: dict[str, Any], patch: Any) -> dict[str, Any] | None:
    """What RFC 6902 makes of the resource, or None when the patch cannot apply."""
    try:
        return jsonpatch.apply_patch(before, patch)
    except Exception:  # noqa: BLE001 - any refusal of the reference implementation
        return None


@property_settings(SCALE.property_examples * 2)
@given(patch=patches, stale=st.booleans())
def test_patch_applies_exactly_or_changes_nothing(client: httpx.Client, patient_id: str, patch: Any, stale: bool):
    current = client.get(f"/Patient/{patient_id}")
    before, version = current.json(), int(current.json()["meta"]["versionId"])
    if_match = f'W/"{version - 1 if stale else version}"'
    response = client.patch(
        f"/Patient/{patient_id}", content=json.dumps(patch), headers={**PATCH_HEADERS, "If-Match": if_match}
    )
    after = client.get(f"/Patient/{patient_id}")
    if response.status_code == 200:
        assert not stale
        assert int(response.json()["meta"]["versionId"]) == version + 1
        assert without_meta(response.json()) == without_meta(expected_result(before, patch) or {})
        assert after.content == response.content
        return
    assert_outcome(response, *range(400, 500))  # 412 for a stale If-Match, unless the patch is malformed too
    assert after.content == current.content  # not a byte changed, same version


@property_settings(SCALE.property_examples)
@given(patch=patches)
def test_a_refused_patch_rolls_its_transaction_back(client: httpx.Client, patient_id: str, patch: Any):
    marker = uuid.uuid4().hex
    current = client.get(f"/Patient/{patient_id}")
    bundle = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "meta": {"tag": [{"system": TAG_SYSTEM, "code": marker}]}},
                "request": {"method": "POST", "url": "Patient"},
            },
            {
                "resource": {"resourceType": "Binary", "data": base64.b64encode(json.dumps(patch).encode()).decode()},
                "request": {"method": "PATCH", "url": f"Patient/{patient_id}"},
            },
        ],
    }
    response = client.post("/", json=bundle, headers=JSON_HEADERS)
    created = client.get("/Patient", params={"_tag": f"{TAG_SYSTEM}|{marker}"}).json()["total"]
    after = client.get(f"/Patient/{patient_id}")
    if response.status_code == 200:
        assert created == 1
        assert int(after.json()["meta"]["versionId"]) == int(current.json()["meta"]["versionId"]) + 1
        assert without_meta(after.json()) == without_meta(expected_result(current.json(), patch) or {})
        return
    assert_outcome(response, *range(400, 500))
    assert created == 0
    assert after.content == current.content
