"""Issue 10.1, the mechanics of FHIR Bulk Data (authentication off; access is tests/security's
test_bulk_access.py): $export kick-off (system, Patient and Group level), status polling,
manifest and NDJSON files, _type, _since, cancellation, restarts and retention; $import of
NDJSON with per-line results. The refused requests (nothing exported or imported) share one
app per backend (``shared_client``); the others get a store each."""

from __future__ import annotations

import json
import time
from pathlib import Path

import orjson
import pytest
from support import BASE, make_client, patient

from fhir_server.api.bulk_jobs import JobStore

ASYNC = {"Prefer": "respond-async"}
NDJSON = {"Content-Type": "application/fhir+ndjson", **ASYNC}


def kick_off(client, path: str, method: str = "GET", **kwargs) -> str:
    response = client.request(method, path, headers={**ASYNC, **kwargs.pop("headers", {})}, **kwargs)
    assert response.status_code == 202, response.text
    assert response.json()["resourceType"] == "OperationOutcome"
    return response.headers["content-location"]


def finished(client, status_url: str):
    """The status answer once the job is no longer running (202 answers carry X-Progress)."""
    for _ in range(600):
        response = client.get(status_url)
        if response.status_code != 202:
            return response
        assert response.headers["x-progress"] and response.headers["retry-after"].isdigit()
        time.sleep(0.05)
    raise AssertionError(f"{status_url} still running")


def manifest(client, status_url: str) -> dict:
    response = finished(client, status_url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json") and response.headers["expires"]
    return response.json()


def download(client, item: dict) -> list[dict]:
    response = client.get(item["url"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/fhir+ndjson")
    lines = [orjson.loads(line) for line in response.content.splitlines()]
    assert len(lines) == item["count"]
    return lines


def exported(client, status_url: str) -> dict[str, set[str]]:
    """Type → ids of the finished export's files."""
    out: dict[str, set[str]] = {}
    for item in manifest(client, status_url)["output"]:
        for resource in download(client, item):
            assert resource["resourceType"] == item["type"]
            out.setdefault(item["type"], set()).add(resource["id"])
    return out


def create(client, resource: dict) -> dict:
    response = client.post(f"/{resource['resourceType']}", json=resource)
    assert response.status_code == 201, response.text
    return response.json()


def _org(name: str) -> dict:
    return {"resourceType": "Organization", "name": name}


def test_kick_off_poll_manifest_download(client) -> None:
    marie, jean = create(client, patient()), create(client, patient("Wagner", "Jean"))
    org = create(client, _org("Cabinet Weber"))
    status_url = kick_off(client, "/$export?_type=Patient,Organization")
    assert status_url.startswith(f"{BASE}/$bulk-status/")
    result = manifest(client, status_url)
    assert result["request"] == f"{BASE}/$export?_type=Patient%2COrganization"
    assert result["requiresAccessToken"] is False  # authentication is off
    assert result["transactionTime"].endswith("Z") and result["error"] == []
    assert {(o["type"], o["count"]) for o in result["output"]} == {("Patient", 2), ("Organization", 1)}
    assert exported(client, status_url) == {"Patient": {marie["id"], jean["id"]}, "Organization": {org["id"]}}
    stored = next(
        line for item in result["output"] if item["type"] == "Organization" for line in download(client, item)
    )
    assert stored == org  # the stored JSON, meta included


def test_post_kick_off_with_a_parameters_body(client) -> None:
    org = create(client, _org("Labo"))
    create(client, patient())
    body = {
        "resourceType": "Parameters",
        "parameter": [
            {"name": "_type", "valueString": "Organization"},
            {"name": "_outputFormat", "valueString": "application/fhir+ndjson"},
        ],
    }
    assert exported(client, kick_off(client, "/$export", "POST", json=body)) == {"Organization": {org["id"]}}


def test_without_type_every_supported_type_with_resources_is_exported(client) -> None:
    create(client, patient())
    types = {item["type"] for item in manifest(client, kick_off(client, "/$export"))["output"]}
    assert {"Patient", "StructureDefinition", "CodeSystem", "SearchParameter"} <= types


def test_patient_level_export_is_the_compartment_types_and_patient_narrows_it(client) -> None:
    marie, jean = create(client, patient()), create(client, patient("Wagner", "Jean"))
    conditions = {
        p["id"]: create(client, {"resourceType": "Condition", "subject": {"reference": f"Patient/{p['id']}"}})["id"]
        for p in (marie, jean)
    }
    create(client, _org("not in a compartment"))
    everyone = exported(client, kick_off(client, "/Patient/$export"))
    assert everyone == {"Patient": {marie["id"], jean["id"]}, "Condition": set(conditions.values())}
    body = {
        "resourceType": "Parameters",
        "parameter": [{"name": "patient", "valueReference": {"reference": f"Patient/{marie['id']}"}}],
    }
    only_marie = exported(client, kick_off(client, "/Patient/$export", "POST", json=body))
    assert only_marie == {"Patient": {marie["id"]}, "Condition": {conditions[marie["id"]]}}


def _condition(client, patient_id: str) -> str:
    return create(client, {"resourceType": "Condition", "subject": {"reference": f"Patient/{patient_id}"}})["id"]


def _group(client, *members: tuple[str, bool]) -> dict:
    """A Group of (reference, inactive) members."""
    entries = [{"entity": {"reference": ref}, "inactive": inactive} for ref, inactive in members]
    return create(client, {"resourceType": "Group", "type": "person", "actual": True, "member": entries})


def test_group_level_export_is_the_compartments_of_its_active_patient_members(client) -> None:
    marie, jean = create(client, patient()), create(client, patient("Wagner", "Jean"))
    paul, luc = create(client, patient("Muller", "Paul")), create(client, patient("Reding", "Luc"))
    conditions = {p["id"]: _condition(client, p["id"]) for p in (marie, jean, paul, luc)}
    doctor = create(client, {"resourceType": "Practitioner", "name": [{"family": "Weber"}]})
    group = _group(
        client,
        (f"Patient/{marie['id']}", False),
        (f"{BASE}/Patient/{jean['id']}", False),  # an absolute reference to this server
        (f"Patient/{paul['id']}", True),  # inactive: left out
        (f"https://elsewhere.example/fhir/Patient/{luc['id']}", False),  # another server's Patient
        (f"Practitioner/{doctor['id']}", False),  # not a Patient
    )
    status_url = kick_off(client, f"/Group/{group['id']}/$export")
    result = manifest(client, status_url)
    assert result["request"] == f"{BASE}/Group/{group['id']}/$export" and result["error"] == []
    assert exported(client, status_url) == {
        "Patient": {marie["id"], jean["id"]},
        "Condition": {conditions[marie["id"]], conditions[jean["id"]]},
    }


def test_group_level_export_takes_type_and_since(client) -> None:
    marie, jean = create(client, patient()), create(client, patient("Wagner", "Jean"))
    early = _condition(client, marie["id"])
    group = _group(client, (f"Patient/{marie['id']}", False), (f"Patient/{jean['id']}", False))
    assert exported(client, kick_off(client, f"/Group/{group['id']}/$export?_type=Condition")) == {"Condition": {early}}
    late = _condition(client, jean["id"])  # written after the Group: only it is after the cutoff
    since = exported(client, kick_off(client, f"/Group/{group['id']}/$export?_since={group['meta']['lastUpdated']}"))
    assert since == {"Condition": {late}}


def test_a_group_without_active_patient_members_exports_nothing(client) -> None:
    marie = create(client, patient())
    _condition(client, marie["id"])
    group = _group(client, (f"Patient/{marie['id']}", True))
    result = manifest(client, kick_off(client, f"/Group/{group['id']}/$export"))
    assert result["output"] == [] and result["error"] == []


def test_a_group_level_export_can_be_cancelled(client) -> None:
    marie = create(client, patient())
    group = _group(client, (f"Patient/{marie['id']}", False))
    status_url = kick_off(client, f"/Group/{group['id']}/$export")
    cancelled = client.delete(status_url)
    assert cancelled.status_code == 202 and cancelled.json()["resourceType"] == "OperationOutcome"
    assert client.get(status_url).status_code == 404


@pytest.mark.parametrize(
    ("query", "expression"),
    [("_type=Organization", "_type"), ("patient=Patient/x", "patient"), ("_since=yesterday", "_since")],
)
def test_group_level_parameters_are_checked(shared_client, query: str, expression: str) -> None:
    group = _group(shared_client, ("Patient/x", False))
    response = shared_client.get(f"/Group/{group['id']}/$export?{query}", headers=ASYNC)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["expression"] == [expression]


def test_group_export_is_in_the_capability_statement(shared_client) -> None:
    rest = shared_client.get("/metadata").json()["rest"][0]
    group = next(r for r in rest["resource"] if r["type"] == "Group")
    assert {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"} in [
        {k: op[k] for k in ("name", "definition")} for op in group["operation"]
    ]


def test_since_exports_what_changed_after_it(client) -> None:
    before = create(client, patient("Avant"))
    changed = create(client, patient("Changed"))
    cutoff = changed["meta"]["lastUpdated"]  # its first version is not after the cutoff, its second is
    assert client.put(f"/Patient/{changed['id']}", json={**changed, "gender": "female"}).status_code == 200
    after = create(client, patient("Apres"))
    ids = exported(client, kick_off(client, f"/$export?_type=Patient&_since={cutoff}"))
    assert ids == {"Patient": {changed["id"], after["id"]}} and before["id"] not in ids["Patient"]


def test_resources_changed_after_the_kick_off_are_left_for_the_next_export(client) -> None:
    create(client, patient())
    status_url = kick_off(client, "/$export?_type=Patient")
    result = manifest(client, status_url)
    late = create(client, patient("Late"))
    assert late["meta"]["lastUpdated"] > result["transactionTime"]
    assert late["id"] not in exported(client, status_url)["Patient"]
    following = exported(client, kick_off(client, f"/$export?_type=Patient&_since={result['transactionTime']}"))
    assert following == {"Patient": {late["id"]}}


def test_paging_through_several_pages_and_import_batches(tmp_path: Path, store_settings: dict) -> None:
    with make_client(tmp_path, max_page_size=50, **store_settings) as client:
        lines = b"".join(orjson.dumps(patient(f"P{i}", id=f"bulk-{i}")) + b"\n" for i in range(120))
        assert manifest(client, kick_off(client, "/$import", "POST", content=lines, headers=NDJSON))["error"] == []
        ids = exported(client, kick_off(client, "/$export?_type=Patient"))
        assert ids == {"Patient": {f"bulk-{i}" for i in range(120)}}


def test_cancel_removes_the_job(client, tmp_path: Path) -> None:
    create(client, patient())
    status_url = kick_off(client, "/$export?_type=Patient")
    response = client.delete(status_url)
    assert response.status_code == 202 and response.json()["resourceType"] == "OperationOutcome"
    assert client.get(status_url).status_code == 404
    assert client.delete(status_url).status_code == 404
    for _ in range(100):  # the task stops at its next step; nothing of the job is left
        if not any((tmp_path / "bulk").iterdir()):
            break
        time.sleep(0.05)
    assert list((tmp_path / "bulk").iterdir()) == []


def test_a_finished_job_can_be_cancelled_and_its_files_are_gone(client) -> None:
    create(client, patient())
    status_url = kick_off(client, "/$export?_type=Patient")
    item = manifest(client, status_url)["output"][0]
    assert client.delete(status_url).status_code == 202
    assert client.get(item["url"]).status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/$bulk-status/0123456789abcdef0123456789abcdef", 404),
        ("GET", "/$bulk-status/not-a-job", 404),
        ("DELETE", "/$bulk-status/0123456789abcdef0123456789abcdef", 404),
        ("GET", "/$bulk-output/0123456789abcdef0123456789abcdef/Patient-1.ndjson", 404),
        ("PUT", "/$bulk-status/0123456789abcdef0123456789abcdef", 405),
        ("GET", "/$import", 405),
        ("GET", "/Group/g1/$export", 404),  # no such Group
        ("GET", "/Patient/p1/$export", 404),
    ],
)
def test_unknown_jobs_files_and_levels(shared_client, method: str, path: str, status: int) -> None:
    response = shared_client.request(method, path, headers=ASYNC)
    assert response.status_code == status, response.text
    assert response.json()["resourceType"] == "OperationOutcome"


def test_only_the_files_of_the_manifest_are_served(client) -> None:
    create(client, patient())
    status_url = kick_off(client, "/$export?_type=Patient")
    manifest(client, status_url)
    job = status_url.rsplit("/", 1)[1]
    for name in ("job.json", "manifest.json", "Organization-1.ndjson", "..%2Fjob.json"):
        assert client.get(f"/$bulk-output/{job}/{name}").status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "headers", "content"),
    [
        ("GET", "/$export", {}, None),
        ("GET", "/Patient/$export", {"Prefer": "respond-sync"}, None),
        ("POST", "/$import", {"Content-Type": "application/fhir+ndjson"}, b'{"resourceType": "Patient"}\n'),
    ],
)
def test_prefer_respond_async_is_required(shared_client, method: str, path: str, headers: dict, content) -> None:
    response = shared_client.request(method, path, headers=headers, content=content)
    assert response.status_code == 400 and "respond-async" in response.text


@pytest.mark.parametrize(
    "query",
    [
        "_outputFormat=application/fhir%2Bjson",
        "_type=Patient,Observation",  # Observation is not a supported type
        "_since=yesterday",
        "_typeFilter=Patient%3Fgender%3Dfemale",
        "patient=Patient/p1",  # Patient level only
    ],
)
def test_bad_kick_off_parameters(shared_client, query: str) -> None:
    response = shared_client.get(f"/$export?{query}", headers=ASYNC)
    assert response.status_code == 400, response.text
    assert response.json()["issue"][0]["code"] == "invalid"


def test_patient_level_type_must_be_in_the_compartment(shared_client) -> None:
    response = shared_client.get("/Patient/$export?_type=Organization", headers=ASYNC)
    assert response.status_code == 400 and "Patient compartment" in response.text


def test_lenient_handling_reports_what_it_ignored(client) -> None:
    create(client, patient())
    headers = {"Prefer": "respond-async, handling=lenient"}
    status_url = kick_off(client, "/$export?_type=Patient,Observation&_typeFilter=x", headers=headers)
    result = manifest(client, status_url)
    assert [o["type"] for o in result["output"]] == ["Patient"]
    (errors,) = result["error"]
    texts = [issue["diagnostics"] for outcome in download(client, errors) for issue in outcome["issue"]]
    assert len(texts) == 2 and any("Observation" in t for t in texts) and any("_typeFilter" in t for t in texts)


def test_a_finished_job_survives_a_restart(tmp_path: Path, store_settings: dict) -> None:
    with make_client(tmp_path, **store_settings) as first:
        create(first, patient())
        status_url = kick_off(first, "/$export?_type=Patient")
        before = manifest(first, status_url)
    with make_client(tmp_path, **store_settings) as second:
        assert manifest(second, status_url) == before
        assert len(download(second, before["output"][0])) == 1


def test_a_job_whose_process_died_reports_a_failure(client, tmp_path: Path) -> None:
    job = JobStore(tmp_path / "bulk", BASE, 24).create("export", None, f"{BASE}/$export", "2026-01-01T00:00:00Z")
    progress = job.folder / "progress.json"
    progress.write_text(json.dumps({"at": time.time() - 3600, "text": "Patient: 1000 resources"}))  # no heartbeat
    response = client.get(job.status_url)
    assert response.status_code == 500
    assert "start it again" in response.json()["issue"][0]["diagnostics"]


def test_jobs_older_than_the_retention_are_removed(tmp_path: Path, store_settings: dict) -> None:
    with make_client(tmp_path, bulk_retention_hours=0, **store_settings) as client:
        first = kick_off(client, "/$export?_type=Patient")
        time.sleep(0.01)
        second = kick_off(client, "/$export?_type=Organization")  # a kick-off sweeps the expired jobs
        assert not (tmp_path / "bulk" / first.rsplit("/", 1)[1]).exists()
        time.sleep(0.01)
        assert client.get(second).status_code == 404  # expired when polled


def test_import_reports_each_refused_line_and_loads_the_rest(client) -> None:
    lines = [
        orjson.dumps(patient(id="imp-1")),
        b"",
        orjson.dumps(patient("NoId")),
        orjson.dumps(patient(id="imp-bad", birthDate="yesterday")),  # fails validation
        b"{not json",
        orjson.dumps({"resourceType": "Observation", "status": "final"}),  # unsupported type
        orjson.dumps(_org("Cabinet") | {"id": "imp-org"}),
    ]
    status_url = kick_off(client, "/$import", "POST", content=b"\n".join(lines) + b"\n", headers=NDJSON)
    result = manifest(client, status_url)
    assert result["request"] == f"{BASE}/$import" and result["requiresAccessToken"] is False
    counts = [issue["diagnostics"] for item in result["output"] for o in download(client, item) for issue in o["issue"]]
    assert counts == ["Organization: 1 written, 0 unchanged", "Patient: 2 written, 0 unchanged"]
    (errors,) = result["error"]
    refused = sorted(o["issue"][0]["diagnostics"].split(":")[0] for o in download(client, errors))
    assert refused == ["line 4", "line 5", "line 6"]
    assert client.get("/Patient/imp-1").status_code == 200 and client.get("/Organization/imp-org").status_code == 200
    assert client.get("/Patient/imp-bad").status_code == 404
    assert len(client.get("/Patient?family=NoId").json()["entry"]) == 1

    again = manifest(client, kick_off(client, "/$import", "POST", content=lines[0] + b"\n", headers=NDJSON))
    counts = [issue["diagnostics"] for item in again["output"] for o in download(client, item) for issue in o["issue"]]
    assert counts == ["Patient: 0 written, 1 unchanged"]  # same content: no new version
    assert client.get("/Patient/imp-1").json()["meta"]["versionId"] == "1"


@pytest.mark.parametrize(
    ("content_type", "body", "status"),
    [
        ("application/fhir+json", b'{"resourceType": "Parameters"}', 415),  # no input URLs fetched
        ("application/fhir+ndjson", b"\n\n", 400),
    ],
)
def test_import_takes_ndjson_in_the_body(shared_client, content_type: str, body: bytes, status: int) -> None:
    response = shared_client.post("/$import", content=body, headers={**ASYNC, "Content-Type": content_type})
    assert response.status_code == status, response.text
