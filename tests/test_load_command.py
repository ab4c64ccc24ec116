"""`fhir-server load` (issue 9): generated LU data loaded through the CLI, resumable, idempotent."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support import make_client

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "fhir_server"]


def _generate(out: Path, fmt: str = "ndjson") -> dict[str, int]:
    subprocess.run(
        [sys.executable, str(REPO / "bench/generate.py"), "--patients", "40", "--seed", "7", "--years", "1",
         "--format", fmt, "--bundle-size", "100", "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip
    counts: dict[str, int] = {}
    for f in sorted((out if fmt == "ndjson" else out).glob("*.ndjson")):
        for line in f.read_text(encoding="utf-8").splitlines():
            t = json.loads(line)["resourceType"]
            counts[t] = counts.get(t, 0) + 1
    for f in sorted(out.glob("bundle-*.json")):
        for e in json.loads(f.read_text(encoding="utf-8"))["entry"]:
            t = e["resource"]["resourceType"]
            counts[t] = counts.get(t, 0) + 1
    return counts


def _load(data_dir: Path, files: list[Path], *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*CLI, "load", *map(str, files), "--data-dir", str(data_dir), "--batch", "50", *extra],
        capture_output=True, text=True, cwd=REPO, timeout=600,
    )  # fmt: skip


def _store_counts(data_dir: Path, types: list[str]) -> dict[str, int]:
    with make_client(data_dir) as client:
        return {
            t: client.get(f"/{t}", params={"_summary": "count"}, headers={"Accept": "application/fhir+json"}).json()[
                "total"
            ]
            for t in types
        }


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    out = tmp_path_factory.mktemp("gen")
    return out, _generate(out)


def test_generator_is_deterministic_and_covers_the_lifecycle(generated, tmp_path: Path) -> None:
    out, counts = generated
    again = _generate(tmp_path / "again")
    assert again == counts
    for f in sorted(out.glob("*.ndjson")):
        assert f.read_bytes() == (tmp_path / "again" / f.name).read_bytes()
    assert {"Patient", "RelatedPerson", "Coverage", "Condition", "CareTeam", "Composition", "Claim"} <= set(counts)
    teams = [json.loads(x) for x in (out / "08-CareTeam.ndjson").read_text(encoding="utf-8").splitlines()]
    statuses = {t["status"] for t in teams}
    assert {"active", "inactive"} <= statuses
    conditions = [json.loads(x) for x in (out / "07-Condition.ndjson").read_text(encoding="utf-8").splitlines()]
    assert all({c["system"] for c in cond["code"]["coding"]} == {"http://hl7.org/fhir/sid/icd-10", "https://fhir.mr.lu/CodeSystem/ald"} for cond in conditions)  # fmt: skip


def test_every_generated_resource_conforms_to_its_profile(generated) -> None:
    from fhir_server.config import Settings
    from fhir_server.fhir.profiles import ProfileValidator
    from fhir_server.terminology import TerminologyService

    out, _ = generated
    settings = Settings()
    validator = ProfileValidator.load(settings.profiles_dir, TerminologyService.load(settings.terminology_dir))
    checked = 0
    for f in sorted(out.glob("*.ndjson")):
        for n, line in enumerate(f.read_text(encoding="utf-8").splitlines()):
            resource = json.loads(line)
            profiles = (resource.get("meta") or {}).get("profile") or [None]
            if n >= 60:  # the first 60 of each type are enough
                break
            for profile in profiles:
                issues = validator.validate(resource, profile)
                errors = [i.diagnostics for i in issues if i.severity in ("error", "fatal")]
                assert not errors, (f.name, n, errors)
                checked += 1
    assert checked > 200


def test_load_interrupt_resume_and_idempotent_rerun(generated, tmp_path: Path) -> None:
    out, counts = generated
    files = sorted(out.glob("*.ndjson"))
    data_dir = tmp_path / "store"
    total = sum(counts.values())

    first = _load(data_dir, files, "--limit", "120", "--quiet")  # stops after 120 resources, resumable
    assert first.returncode == 3, first.stderr
    assert (data_dir / "load-checkpoint.json").exists()

    second = _load(data_dir, files)
    assert second.returncode == 0, second.stderr
    assert "resources/s" in second.stdout
    assert "120 skipped" in second.stdout, second.stdout
    assert not (data_dir / "load-checkpoint.json").exists()
    assert _store_counts(data_dir, sorted(counts)) == counts

    again = _load(data_dir, files, "--quiet")  # PUT by id: same content → nothing written
    assert again.returncode == 0, again.stderr
    assert f"{total} unchanged" in again.stdout, again.stdout
    assert _store_counts(data_dir, sorted(counts)) == counts
    with make_client(data_dir) as client:
        patient = client.get("/Patient", params={"_count": "1"}).json()["entry"][0]["resource"]
        assert patient["meta"]["versionId"] == "1"
        status = client.get(f"/Patient/{patient['id']}/$mr-status")
        assert status.status_code == 200, status.text


def test_load_bundles(tmp_path: Path) -> None:
    out = tmp_path / "bundles"
    counts = _generate(out, "bundle")
    result = _load(tmp_path / "store", sorted(out.glob("bundle-*.json")), "--quiet")
    assert result.returncode == 0, result.stderr
    assert _store_counts(tmp_path / "store", sorted(counts)) == counts


def _copy(src: Path, dst: Path) -> list[Path]:
    dst.mkdir()
    for f in sorted(src.glob("*.ndjson")):
        (dst / f.name).write_bytes(f.read_bytes())
    return sorted(dst.glob("*.ndjson"))


def test_invalid_resources_in_a_parallel_load_are_reported_and_not_stored(generated, tmp_path: Path) -> None:
    out, counts = generated
    files = _copy(out, tmp_path / "data")
    claims = tmp_path / "data" / "10-Claim.ndjson"
    original = claims.read_text(encoding="utf-8")
    lines = original.splitlines(keepends=True)
    bad = [json.loads(lines[i]) for i in (59, 74)]  # lines 60 and 75: both in the second batch of 50
    bad[0]["created"] = "yesterday"
    bad[1]["fooBar"] = 1
    lines[59], lines[74] = json.dumps(bad[0]) + "\n", json.dumps(bad[1]) + "\n"
    claims.write_text("".join(lines), encoding="utf-8")
    data_dir = tmp_path / "store"

    refused = _load(data_dir, files, "--workers", "2", "--quiet")
    assert refused.returncode == 1, refused.stderr
    assert f"10-Claim.ndjson:60: Claim/{bad[0]['id']} refused: Claim.created" in refused.stderr, refused.stderr
    assert f"10-Claim.ndjson:75: Claim/{bad[1]['id']} refused: " in refused.stderr
    assert "fooBar" in refused.stderr
    stored = _store_counts(data_dir, sorted(counts))
    assert stored == {**counts, "Claim": 50}  # the batch before is kept, nothing of the refused one
    with make_client(data_dir) as client:
        assert client.get(f"/Claim/{bad[0]['id']}").status_code == 404
    checkpoint = json.loads((data_dir / "load-checkpoint.json").read_text(encoding="utf-8"))
    assert checkpoint["files"][str(claims)]["offset"] == 50

    claims.write_text(original, encoding="utf-8")  # fixed: the changed file is loaded again, idempotently
    fixed = _load(data_dir, files, "--workers", "2", "--quiet")
    assert fixed.returncode == 0, fixed.stderr
    assert _store_counts(data_dir, sorted(counts)) == counts


def test_ctrl_c_leaves_no_half_written_batch_and_the_load_resumes(tmp_path: Path) -> None:
    more = tmp_path / "more"
    subprocess.run(
        [sys.executable, str(REPO / "bench/generate.py"), "--patients", "300", "--seed", "8", "--years", "1",
         "--format", "ndjson", "--out", str(more)],
        check=True, capture_output=True,
    )  # fmt: skip
    files = sorted(more.glob("*.ndjson"))
    lines = {f: len(f.read_text(encoding="utf-8").splitlines()) for f in files}
    data_dir = tmp_path / "store"
    batch = 20
    proc = subprocess.Popen(
        [*CLI, "load", *map(str, files), "--data-dir", str(data_dir), "--batch", str(batch), "--workers", "2",
         "--quiet"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    checkpoint_file = data_dir / "load-checkpoint.json"
    while not checkpoint_file.exists() and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 3, stderr
    assert "rerun the same command to resume" in stderr

    checkpoint = json.loads(checkpoint_file.read_text(encoding="utf-8"))["files"]
    types = {f: json.loads(f.read_text(encoding="utf-8").splitlines()[0])["resourceType"] for f in files}
    stored = _store_counts(data_dir, sorted(types.values()))
    assert sum(stored.values()) < sum(lines.values()), "the load ended before the interruption"
    for f in files:  # each file's resources are stored by whole batches, at least up to its checkpoint
        boundaries = {min(k * batch, lines[f]) for k in range(lines[f] // batch + 2)}
        assert stored[types[f]] in boundaries, (f.name, stored[types[f]])
        assert stored[types[f]] >= checkpoint.get(str(f), {}).get("offset", 0)

    resumed = _load(data_dir, files, "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    assert _store_counts(data_dir, sorted(types.values())) == {types[f]: lines[f] for f in files}
