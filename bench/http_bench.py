"""HTTP benchmark of the real server process on a data dir filled by bench/load_store.py.

    .venv/bin/python bench/http_bench.py --data-dir /tmp/fhir-bench-100k                  # auth on, system
    .venv/bin/python bench/http_bench.py --data-dir D --actor practitioner --scenarios read,search
    .venv/bin/python bench/http_bench.py --data-dir D --no-auth                            # to compare

1. starts ``python -m fhir_server serve`` on a free loopback port (FHIR_SERVER_LOG_REQUESTS=false,
   ``--base-url http://127.0.0.1:PORT``), authentication on unless ``--no-auth``;
2. mints the caller's token with ``fhir-server token`` (same data dir and base URL, so the signing key
   and the audience agree): ``--actor system`` (default) a system client, ``--actor practitioner`` a
   practitioner found through the API who is médecin référent of the patients then read and searched;
3. samples Patient ids and matricules straight from the store (read-only SQLite), checks once that
   each scenario answers its status with the token, that no token and a forged one get 401 (and,
   with ``--no-auth``, that no token gets 200; for a practitioner, that others' patients are 404);
4. for each scenario and concurrency runs a SEPARATE load-generator process — by default
   this script itself in ``_worker`` mode (asyncio + a minimal keep-alive HTTP/1.1 client,
   C concurrent workers), or Debian ``wrk`` with ``--client wrk`` (``auto`` uses wrk when
   installed) — for ``--warmup`` s (discarded) then ``--duration`` s (measured), every request
   with ``Authorization: Bearer <token>``;
5. reports requests/s, p50/p95/p99 latency, error count, the CPU use of the client and of the
   server during the measured window (from /proc), the server's CPU µs per request over the whole
   row, and with authentication on the AuditEvents written per request and how long the server
   kept writing them after the load stopped (the audit trail writes in the background);
6. writes ``bench/results/latest.md`` and ``bench/results/latest.json``.

Scenarios: see EXPECTED below (read, vread, searches, $mr-status, create, update, transaction, metadata).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import re
import shutil
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

MATRICULE_SYSTEM = "urn:oid:1.3.182.4.4"
EXPECTED = {
    "read": 200,
    "search": 200,
    "create": 201,
    "metadata": 200,
    # the search speed targets of issue 3 (first page unless said otherwise)
    "search-reference": 200,  # Condition?subject=Patient/<id>
    "search-date": 200,  # Patient?birthdate=ge<d>&birthdate=lt<d + 30 days>
    "search-chain": 200,  # CareTeam?subject:Patient.identifier=<matricule>
    "search-total": 200,  # a token search with ~100,000 matches, _total=accurate
    # issue 9 (bench/run_all.py)
    "vread": 200,  # GET /Patient/<id>/_history/1
    "update": 200,  # PUT /Patient/<id> (adds versions!)
    "transaction": 200,  # POST / transaction Bundle of 100 Patient creates (adds resources!)
    "search-include": 200,  # Condition?subject=Patient/<id>&_include=Condition:subject
    "mr-status": 200,  # GET /Patient/<id>/$mr-status
}
HERE = Path(__file__).resolve().parent
REPO = HERE.parent
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


# -- load generator (runs in its own process) --------------------------------------------------

FAMILIES = ["Schmit", "Muller", "Weber", "Hoffmann", "Wagner", "Thill", "Reuter", "Kieffer", "Majerus", "Goergen"]
GIVEN = ["Marie", "Jean", "Paul", "Anne", "Luc", "Claude", "Nicole", "Tom", "Léa", "Romain"]


def _new_patient(rng: random.Random) -> bytes:
    from fhir_server.mr.matricule import make_matricule

    birth = date(1930, 1, 1) + timedelta(days=rng.randint(0, 85 * 365))
    return json.dumps(
        {
            "resourceType": "Patient",
            "identifier": [{"system": MATRICULE_SYSTEM, "value": make_matricule(birth, rng.randint(0, 999))}],
            "name": [{"family": rng.choice(FAMILIES), "given": [rng.choice(GIVEN)]}],
            "gender": rng.choice(["female", "male"]),
            "birthDate": birth.isoformat(),
            "address": [{"city": "Esch-sur-Alzette", "postalCode": "4170", "country": "LU"}],
        }
    ).encode()


def build_request(scenario: str, rng: random.Random, samples: dict) -> tuple[str, str, bytes | None]:
    """(method, target, body) of one request of ``scenario`` on the sampled ids and matricules."""
    ids, matricules = samples["ids"], samples["matricules"]
    bar = f"{MATRICULE_SYSTEM}%7C"
    if scenario == "read":
        return "GET", f"/Patient/{rng.choice(ids)}", None
    if scenario == "search":
        return "GET", f"/Patient?identifier={bar}{rng.choice(matricules)}", None
    if scenario == "create":
        return "POST", "/Patient", _new_patient(rng)
    if scenario == "search-reference":
        return "GET", f"/Condition?subject=Patient/{rng.choice(ids)}", None
    if scenario == "search-date":
        start = date(1930, 1, 1) + timedelta(days=rng.randrange(90 * 365))
        return "GET", f"/Patient?birthdate=ge{start}&birthdate=lt{start + timedelta(days=30)}", None
    if scenario == "search-chain":
        return "GET", f"/CareTeam?subject:Patient.identifier={bar}{rng.choice(matricules)}", None
    if scenario == "search-total":
        return "GET", samples["total_query"], None
    if scenario == "vread":
        return "GET", f"/Patient/{rng.choice(ids)}/_history/1", None
    if scenario == "update":
        pid = rng.choice(ids)
        body = json.loads(_new_patient(rng))
        return "PUT", f"/Patient/{pid}", json.dumps({**body, "id": pid}).encode()
    if scenario == "transaction":
        entries = [
            {"resource": json.loads(_new_patient(rng)), "request": {"method": "POST", "url": "Patient"}}
            for _ in range(100)
        ]
        return "POST", "/", json.dumps({"resourceType": "Bundle", "type": "transaction", "entry": entries}).encode()
    if scenario == "search-include":
        return "GET", f"/Condition?subject=Patient/{rng.choice(ids)}&_include=Condition:subject", None
    if scenario == "mr-status":
        return "GET", f"/Patient/{rng.choice(ids)}/$mr-status", None
    return "GET", "/metadata", None


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: a few µs of Python per
    request instead of httpx's ~0.5 ms, so one client core can drive the server harder."""

    def __init__(self, host: str, port: int, authorization: str | None = None):
        self.host, self.port = host, port
        self.authorization = f"Authorization: {authorization}\r\n" if authorization else ""
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, body: bytes | None = None) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        head = f"{method} {target} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nAccept: application/fhir+json\r\n"
        head += self.authorization
        if body is not None:
            head += f"Content-Type: application/fhir+json\r\nPrefer: return=minimal\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + (body or b""))
        assert self.reader is not None
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        length, chunked, close = 0, False, False
        for line in lines[1:]:
            name, _, value = line.partition(":")
            name = name.lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and "close" in value.lower():
                close = True
        if chunked:
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        elif length:
            await self.reader.readexactly(length)
        if close:
            self.close()
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None


async def _run_worker(
    url: str, scenario: str, concurrency: int, duration: float, warmup: float, samples: dict, lib: str
) -> dict:
    authorization = samples.get("authorization")  # "Bearer <token>", or None with authentication off
    rng = random.Random(concurrency * 7919 + len(scenario))
    expected = EXPECTED[scenario]
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    errors = 0
    sent = 0  # warm-up included
    clock = time.perf_counter
    start = clock()
    measure_from, stop_at = start + warmup, start + warmup + duration
    cpu_at_start: list[os.times_result] = []
    host, port = url.removeprefix("http://").split(":")

    def next_request() -> tuple[str, str, bytes | None]:
        return build_request(scenario, rng, samples)

    if lib == "httpx":
        import httpx

        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        base_headers = {"Accept": "application/fhir+json"}
        if authorization:
            base_headers["Authorization"] = authorization
        client = httpx.AsyncClient(base_url=url, limits=limits, timeout=30.0, headers=base_headers)

        def make_sender():
            async def send(method: str, target: str, body: bytes | None) -> int:
                headers = {"Content-Type": "application/fhir+json", "Prefer": "return=minimal"} if body else None
                return (await client.request(method, target, content=body, headers=headers)).status_code

            return send
    else:
        client = None

        def make_sender():
            return RawConnection(host, int(port), authorization).request

    async def one() -> None:
        nonlocal errors, sent
        send = make_sender()
        while True:
            method, target, body = next_request()
            t0 = clock()
            if t0 >= stop_at:
                return
            if t0 >= measure_from and not cpu_at_start:
                cpu_at_start.append(os.times())
            try:
                status = await send(method, target, body)
            except (OSError, asyncio.IncompleteReadError, ValueError) as exc:  # noqa: PERF203
                status = -1
                if lib != "httpx":
                    send = make_sender()
                del exc
            except Exception:  # noqa: BLE001 - httpx errors
                status = -1
            t1 = clock()
            sent += 1
            if t0 >= measure_from:
                latencies.append(t1 - t0)
                statuses[status] = statuses.get(status, 0) + 1
                if status != expected:
                    errors += 1

    await asyncio.gather(*(one() for _ in range(concurrency)))
    if client is not None:
        await client.aclose()
    cpu_end = os.times()
    wall = max(clock(), stop_at) - measure_from
    cpu = 0.0
    if cpu_at_start:
        cpu = (cpu_end.user - cpu_at_start[0].user) + (cpu_end.system - cpu_at_start[0].system)
    return {
        "latencies": latencies,
        "statuses": statuses,
        "errors": errors,
        "wall": wall,
        "client_cpu_s": cpu,
        "all_requests": sent,
    }


def worker_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    ap.add_argument("--scenario", required=True, choices=sorted(EXPECTED))
    ap.add_argument("--concurrency", type=int, required=True)
    ap.add_argument("--duration", type=float, required=True)
    ap.add_argument("--warmup", type=float, required=True)
    ap.add_argument("--samples", type=Path, required=True)
    ap.add_argument("--lib", choices=["raw", "httpx"], default="raw")
    a = ap.parse_args(argv)
    samples = json.loads(a.samples.read_text())
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    raw = asyncio.run(_run_worker(a.url, a.scenario, a.concurrency, a.duration, a.warmup, samples, a.lib))
    lat = sorted(raw["latencies"])
    n = len(lat)
    out = {
        "requests": n,
        "all_requests": raw["all_requests"],
        "errors": raw["errors"],
        "statuses": {str(k): v for k, v in raw["statuses"].items()},
        "rps": n / raw["wall"] if raw["wall"] else 0.0,
        "p50_ms": lat[n // 2] * 1000 if n else None,
        "p95_ms": lat[min(n - 1, int(n * 0.95))] * 1000 if n else None,
        "p99_ms": lat[min(n - 1, int(n * 0.99))] * 1000 if n else None,
        "mean_ms": statistics.fmean(lat) * 1000 if n else None,
        "client_cpu_pct": 100 * raw["client_cpu_s"] / raw["wall"] if raw["wall"] else None,
        "wall_s": raw["wall"],
    }
    print(json.dumps(out))
    return 0


# -- wrk client ---------------------------------------------------------------------------------

_WRK_LUA = r"""
local ids = {%(ids)s}
local mats = {%(mats)s}
local scenario = "%(scenario)s"
local authorization = "%(authorization)s"
local n = 0
local function headers(extra)
  local h = {["Accept"]="application/fhir+json"}
  if authorization ~= "" then h["Authorization"] = authorization end
  for k, v in pairs(extra or {}) do h[k] = v end
  return h
end
request = function()
  n = n + 1
  if scenario == "read" then
    return wrk.format("GET", "/Patient/" .. ids[math.random(#ids)], headers())
  elseif scenario == "search" then
    return wrk.format("GET", "/Patient?identifier=urn:oid:1.3.182.4.4%%7C" .. mats[math.random(#mats)], headers())
  elseif scenario == "create" then
    local body = '{"resourceType":"Patient","name":[{"family":"Wrk","given":["N' .. n .. '"]}],' ..
                 '"identifier":[{"system":"urn:oid:1.3.182.4.4","value":"1980010112345"}]}'
    return wrk.format("POST", "/Patient", headers({["Content-Type"]="application/fhir+json",
                      ["Prefer"]="return=minimal"}), body)
  else
    return wrk.format("GET", "/metadata", headers())
  end
end
done = function(d, latency, requests)
  local non = d.errors.status
  io.write(string.format("JSON {\"requests\":%%d,\"errors\":%%d,\"p50_us\":%%d,\"p95_us\":%%d," ..
    "\"p99_us\":%%d,\"mean_us\":%%f,\"duration_us\":%%d}\n",
    d.requests, d.errors.connect + d.errors.read + d.errors.write + d.errors.timeout + non,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.mean, d.duration))
end
"""


def run_wrk(
    url: str,
    scenario: str,
    concurrency: int,
    duration: float,
    warmup: float,
    samples: dict,
    workdir: Path,
    server_pid: int,
) -> dict:
    script = workdir / f"wrk-{scenario}.lua"
    script.write_text(
        _WRK_LUA
        % {
            "ids": ",".join(json.dumps(i) for i in samples["ids"][:20000]),
            "mats": ",".join(json.dumps(m) for m in samples["matricules"][:20000]),
            "scenario": scenario,
            "authorization": samples.get("authorization") or "",
        }
    )
    threads = str(min(concurrency, os.cpu_count() or 1))
    warmup_requests = 0
    if warmup > 0:
        warm = subprocess.run(
            ["wrk", "-t", threads, "-c", str(concurrency), "-d", f"{max(1, round(warmup))}s", "-s", str(script), url],
            capture_output=True,
            text=True,
            check=True,
        )
        if m := re.search(r"^JSON (.*)$", warm.stdout, re.M):
            warmup_requests = json.loads(m.group(1))["requests"]
    started, server_cpu0 = os.times(), proc_cpu_seconds(server_pid)
    proc = subprocess.run(
        ["wrk", "-t", threads, "-c", str(concurrency), "-d", f"{round(duration)}s", "-s", str(script), url],
        capture_output=True,
        text=True,
        check=True,
    )
    ended, server_cpu1 = os.times(), proc_cpu_seconds(server_pid)
    match = re.search(r"^JSON (.*)$", proc.stdout, re.M)
    if not match:
        raise RuntimeError(proc.stdout + proc.stderr)
    d = json.loads(match.group(1))
    wall = d["duration_us"] / 1e6
    cpu = (ended.children_user - started.children_user) + (ended.children_system - started.children_system)
    return {
        "requests": d["requests"],
        "all_requests": d["requests"] + warmup_requests,
        "errors": d["errors"],
        "statuses": {},
        "rps": d["requests"] / wall,
        "p50_ms": d["p50_us"] / 1000,
        "p95_ms": d["p95_us"] / 1000,
        "p99_ms": d["p99_us"] / 1000,
        "mean_ms": d["mean_us"] / 1000,
        "client_cpu_pct": 100 * cpu / wall,
        "wall_s": wall,
        "server_cpu_pct": None
        if server_cpu0 is None or server_cpu1 is None
        else 100 * (server_cpu1 - server_cpu0) / (ended.elapsed - started.elapsed),
    }


# -- orchestration --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime, stime
    except (OSError, IndexError, ValueError):
        return None


def sample_store(db: Path, n: int, seed: int) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        counts = dict(conn.execute("SELECT type, count(*) FROM resources GROUP BY type").fetchall())
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM resources WHERE type = 'Patient' AND body IS NOT NULL ORDER BY random() LIMIT ?", (n,)
            )
        ]
        mats = [
            r[0]
            for r in conn.execute(
                "SELECT t.code FROM idx_token t JOIN resources r ON r.rid = t.rid AND r.body IS NOT NULL "
                "WHERE t.type = 'Patient' AND t.param = 'identifier' AND t.system = ? ORDER BY random() LIMIT ?",
                (MATRICULE_SYSTEM, n),
            )
        ]
        # the Condition token value whose match count is nearest 100,000, for "search-total"
        param, code, matches = min(
            conn.execute("SELECT param, code, count(*) FROM idx_token WHERE type = 'Condition' GROUP BY param, code"),
            key=lambda row: abs(row[2] - 100_000),
        )
    finally:
        conn.close()
    rng = random.Random(seed)
    rng.shuffle(ids)
    rng.shuffle(mats)
    total_query = f"/Condition?{param}={code}&_total=accurate&_count=10"
    return {"counts": counts, "ids": ids, "matricules": mats, "total_query": total_query, "total_matches": matches}


def _server_env(synchronous: str = "FULL") -> dict[str, str]:
    """The environment of the server and of ``fhir-server token``: none of the caller's FHIR_SERVER_*
    settings, so that both see the same data dir, base URL, issuer and audience (the command line's)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_SERVER_")}
    env.update({"FHIR_SERVER_LOG_REQUESTS": "false", "FHIR_SERVER_SQLITE_SYNCHRONOUS": synchronous})
    return env


def start_server(data_dir: Path, port: int, synchronous: str, log_path: Path, *, auth: bool = True) -> subprocess.Popen:
    """``fhir-server serve`` on 127.0.0.1:port with ``--base-url http://127.0.0.1:port`` (the audience of
    the tokens :func:`mint_token` makes); authentication on unless ``auth=False`` (``--no-auth``)."""
    cmd = [
        sys.executable,
        "-m",
        "fhir_server",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--base-url",
        f"http://127.0.0.1:{port}",
        *([] if auth else ["--no-auth"]),
    ]
    proc = subprocess.Popen(
        cmd,
        env=_server_env(synchronous),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=open(log_path, "wb"),
    )  # noqa: SIM115
    import httpx

    deadline = time.monotonic() + 120  # a large store takes a few seconds to open and publish conformance
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited: {log_path.read_text()}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/metadata", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    proc.kill()
    raise TimeoutError("server did not start")


def mint_token(data_dir: Path, base_url: str, *, system: str | None = None, practitioner: str | None = None) -> str:
    """An access token from ``fhir-server token`` (the data dir's signing key in <data dir>/auth, audience
    ``base_url``), valid for a day: a system client's (system/*.cruds) or a practitioner's (user/*.cruds)."""
    who = ["--system", system] if system else ["--practitioner", str(practitioner)]
    proc = subprocess.run(
        [sys.executable, "-m", "fhir_server", "token", *who, "--data-dir", str(data_dir), "--base-url", base_url,
         "--lifetime", "86400"],
        env=_server_env(), cwd=REPO, capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode != 0 or not proc.stdout.strip():
        raise RuntimeError(f"fhir-server token failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout.strip()


MR_CATEGORY = "https://fhir.mr.lu/CodeSystem/careteam-category|medecin-referent"
MR_ROLE = ("https://fhir.mr.lu/CodeSystem/careteam-role", "medecin-referent")


def _mr_member(team: dict) -> str | None:
    for participant in team.get("participant", []):
        for role in participant.get("role", []):
            if any((c.get("system"), c.get("code")) == MR_ROLE for c in role.get("coding", [])):
                return (participant.get("member") or {}).get("reference")
    return None


def practitioner_samples(url: str, system_authorization: str, practitioner: str | None = None) -> dict:
    """A practitioner and the patients whose médecin référent they are, found through the API with a
    system token: unless given, the MR named most often among the first 1,000 active MR CareTeams;
    then all its active MR CareTeams (as the Practitioner or one of its PractitionerRoles), their
    patients and those patients' matricules."""
    import httpx

    headers = {"Accept": "application/fhir+json", "Authorization": system_authorization}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as c:

        def get(target: str, params: dict | None = None) -> dict:
            r = c.get(target, params=params)
            r.raise_for_status()
            return r.json()

        def every(target: str, params: dict) -> list[dict]:
            found, bundle = [], get(target, params)
            while True:
                found += [
                    e["resource"] for e in bundle.get("entry", []) if e.get("search", {}).get("mode") != "include"
                ]
                nxt = next((link["url"] for link in bundle.get("link", []) if link["relation"] == "next"), None)
                if not nxt:
                    return found
                bundle = get(nxt)

        if practitioner is None:
            teams = get("/CareTeam", {"status": "active", "category": MR_CATEGORY, "_count": "1000", "_total": "none"})
            members: dict[str, int] = {}
            for entry in teams.get("entry", []):
                member = _mr_member(entry["resource"])
                if member:
                    members[member] = members.get(member, 0) + 1
            if not members:
                raise RuntimeError("no active MR CareTeam in the store: --actor practitioner needs one")
            member = max(members, key=lambda m: members[m])
            kind, _, mid = member.partition("/")
            practitioner = (
                get(f"/PractitionerRole/{mid}")["practitioner"]["reference"].removeprefix("Practitioner/")
                if kind == "PractitionerRole"
                else mid
            )
        roles = every("/PractitionerRole", {"practitioner": f"Practitioner/{practitioner}", "_count": "100"})
        identities = [f"Practitioner/{practitioner}", *(f"PractitionerRole/{r['id']}" for r in roles)]
        teams = every(
            "/CareTeam",
            {"participant": ",".join(identities), "status": "active", "category": MR_CATEGORY, "_count": "1000"},
        )
        patients = sorted(
            {
                t["subject"]["reference"].removeprefix("Patient/")
                for t in teams
                if _mr_member(t) in identities and t.get("subject", {}).get("reference", "").startswith("Patient/")
            }
        )
        matricules = []
        for i in range(0, len(patients), 100):
            for p in every("/Patient", {"_id": ",".join(patients[i : i + 100]), "_count": "100"}):
                matricules += [x["value"] for x in p.get("identifier", []) if x.get("system") == MATRICULE_SYSTEM]
    return {"practitioner": practitioner, "identities": identities, "patients": patients, "matricules": matricules}


def audit_count(db: Path) -> int:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute("SELECT count(*) FROM resources WHERE type = 'AuditEvent'").fetchone()[0]
    finally:
        conn.close()


def wait_audit_drained(db: Path, server_pid: int, timeout: float = 300.0, poll: float = 0.25) -> tuple[int, float]:
    """(AuditEvents stored, seconds until the server was done writing them): the audit trail writes in
    the background, so a load run ends with a backlog still to write. Done = the count did not grow
    and the server used < 10 % of a core over the last ``poll`` seconds (one batch of 200 AuditEvents
    can take longer than ``poll`` to commit, so a still count alone does not mean done)."""
    started = time.monotonic()
    last, cpu = audit_count(db), proc_cpu_seconds(server_pid) or 0.0
    while time.monotonic() - started < timeout:
        time.sleep(poll)
        now, cpu_now = audit_count(db), proc_cpu_seconds(server_pid) or 0.0
        if now == last and cpu_now - cpu < 0.1 * poll:
            return now, max(0.0, time.monotonic() - started - poll)
        last, cpu = now, cpu_now
    return last, time.monotonic() - started


def _readable(url: str, authorization: str, patient_ids: list[str]) -> list[str]:
    """The patients this caller gets a 200 for (an MR CareTeam starting in the future grants nothing yet)."""
    import httpx

    headers = {"Accept": "application/fhir+json", "Authorization": authorization}
    with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
        return [pid for pid in patient_ids[:2000] if c.get(f"/Patient/{pid}").status_code == 200]


def _vm_kb(pid: int, field: str) -> int:
    """VmRSS / VmHWM of a process, in kB (0 when unknown)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    m = re.search(rf"^{field}:\s+(\d+)", status, re.M)
    return int(m.group(1)) if m else 0


def _forged(authorization: str) -> str:
    """The same token with its signature's last characters changed."""
    tail = "AAAA" if not authorization.endswith("AAAA") else "BBBB"
    return authorization[:-4] + tail


def sanity_check(url: str, samples: dict, scenarios: list[str], *, auth: bool) -> dict:
    """The scenarios really do what they claim before measuring them: with authentication on, no token
    and a forged one get 401 (GET /metadata still 200), the token gets each scenario's status; with
    ``--no-auth``, a request without a token gets 200. For a practitioner, patients outside their
    records answer 404 and their matricules find nothing. Returns what was checked."""
    import httpx

    authorization = samples.get("authorization")
    token = {"Authorization": authorization} if authorization else {}
    pid, checked = samples["ids"][0], []
    with httpx.Client(base_url=url, headers={"Accept": "application/fhir+json"}, timeout=60) as c:
        r = c.get(f"/Patient/{pid}")
        if auth:
            assert r.status_code == 401 and "Bearer" in r.headers.get("www-authenticate", ""), (r.status_code, r.text)
            r = c.get(f"/Patient/{pid}", headers={"Authorization": _forged(authorization or "Bearer x")})
            assert r.status_code == 401, (r.status_code, r.text[:300])
            assert c.get("/metadata").status_code == 200
            checked += ["no token → 401 + WWW-Authenticate", "forged token → 401", "GET /metadata without token → 200"]
        else:
            assert r.status_code == 200, f"--no-auth, yet a request without token got {r.status_code}"
            checked.append("--no-auth: no token → 200")
        r = c.get(f"/Patient/{pid}", headers=token)
        assert r.status_code == 200 and r.json()["id"] == pid, r.text[:500]
        r = c.get("/Patient", params={"identifier": f"{MATRICULE_SYSTEM}|{samples['matricules'][0]}"}, headers=token)
        # >= 1: earlier `create` runs may have added a Patient with the same (random) matricule
        assert r.status_code == 200 and r.json()["total"] >= 1, r.text[:500]
        assert r.json()["entry"][0]["resource"]["identifier"][0]["value"] == samples["matricules"][0]
        checked.append("read 200 with the id; matricule search finds the Patient")
        rng = random.Random(0)
        for scenario in scenarios:
            method, target, body = build_request(scenario, rng, samples)
            headers = dict(token)
            if body is not None:
                headers.update({"Content-Type": "application/fhir+json", "Prefer": "return=minimal"})
            r = c.request(method, target, content=body, headers=headers)
            assert r.status_code == EXPECTED[scenario], (
                f"{scenario}: {method} {target} → {r.status_code} {r.text[:300]}"
            )
        checked.append(f"each scenario once → its expected status ({', '.join(scenarios)})")
        for other in samples.get("other_ids", [])[:5]:
            r = c.get(f"/Patient/{other}", headers=token)
            assert r.status_code == 404, f"Patient/{other} is not this practitioner's, yet {r.status_code}"
        for mat in samples.get("other_matricules", [])[:5]:
            r = c.get("/Patient", params={"identifier": f"{MATRICULE_SYSTEM}|{mat}"}, headers=token)
            assert r.status_code == 200 and not r.json().get("entry"), r.text[:300]
        if samples.get("other_ids"):
            checked.append("other patients → 404, their matricules find nothing")
    return {"checks": checked}


def fmt(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


AUDIT_NOTE = [
    "",
    "With authentication on every request leaves AuditEvents, written by a background task in batches",
    "(one store transaction per 500 events or 200 ms). *audit ev/req* = AuditEvents stored during the row",
    "(warm-up included) per request sent; *drain s* = how long the server kept writing that backlog after",
    "the load stopped; *req/s incl. audit* = requests sent / (warm-up + measured + drain time), the rate",
    "the server sustains with its audit trail keeping up.",
]


def table_lines(rows: list[dict], auth_on: bool, label=lambda s: s) -> list[str]:  # noqa: ANN001
    """The markdown table of the HTTP rows (the audit columns only with authentication on)."""
    head = (
        "| scenario | clients | req/s | p50 ms | p95 ms | p99 ms | errors | client CPU % | server CPU % "
        "| server CPU µs/req |"
    )
    rule = "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    if auth_on:
        head += " audit ev/req | drain s | req/s incl. audit |"
        rule += "---:|---:|---:|"
    lines = [head, rule]
    for r in rows:
        line = (
            f"| {label(r['scenario'])} | {r['concurrency']} | {r['rps']:.0f} | {fmt(r['p50_ms'], 2)} "
            f"| {fmt(r.get('p95_ms'), 2)} | {fmt(r['p99_ms'], 2)} | {r['errors']} | {fmt(r['client_cpu_pct'], 0)} "
            f"| {fmt(r['server_cpu_pct'], 0)} | {fmt(r.get('server_cpu_us_per_req'), 0)} |"
        )
        if auth_on:
            line += (
                f" {fmt(r.get('audit_per_request'), 2)} | {fmt(r.get('audit_drain_s'), 1)} "
                f"| {fmt(r.get('rps_incl_audit'), 0)} |"
            )
        lines.append(line)
    return lines


def write_reports(out_dir: Path, meta: dict, rows: list[dict]) -> tuple[Path, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / "latest.json", out_dir / "latest.md"
    json_path.write_text(json.dumps({"meta": meta, "results": rows}, indent=2) + "\n")
    lines = [
        "# HTTP benchmark — latest run",
        "",
        f"- date: {meta['date']}",
        f"- machine: {meta['cpu']} × {meta['cpus']} CPUs, {meta['platform']}, Python {meta['python']}",
        f"- store: `{meta['data_dir']}` — {meta['store_resources']} resources before the run "
        f"({', '.join(f'{k} {v}' for k, v in sorted(meta['store_counts'].items()))}), {meta['store_mb']:.0f} MB",
        f"- server: 1 process (uvicorn), FHIR_SERVER_LOG_REQUESTS=false, "
        f"FHIR_SERVER_SQLITE_SYNCHRONOUS={meta['synchronous']}",
        f"- client: {meta['client']} in a separate process, keep-alive, {meta['warmup']:.0f} s warm-up then "
        f"{meta['duration']:.0f} s measured per row",
        f"- authentication: {meta['auth']}",
        f"- sanity checks passed: {'; '.join(meta['sanity_checks'])}",
        f"- server peak RSS during the run (VmHWM): {fmt(meta.get('server_peak_rss_mb'), 0)} MB; "
        f"AuditEvents lost (server log): {meta.get('audit_lost_log_lines', 0)} line(s)",
        f"- command: `{meta['command']}`",
        "",
        *table_lines(rows, meta["auth_on"]),
        "",
        "CPU % is CPU time over wall time during the measured window (100 % = one core). The server",
        "runs one event loop, so a server CPU near 100 % means the server is the bottleneck; a client",
        "CPU near 100 % (with the server well below) would mean the load generator is. `metadata` is a",
        "baseline of the HTTP stack + client with no store access. *server CPU µs/req* = the server's CPU",
        "time over the whole row (warm-up, measured window and, with authentication on, the audit backlog)",
        "per request sent: the cost of a request, comparable between runs even when other work shares the",
        "cores and throughput is not.",
        *(AUDIT_NOTE if meta["auth_on"] else []),
        "",
    ]
    md_path.write_text("\n".join(lines))
    return md_path, json_path


def main(argv: list[str]) -> int:
    if argv[:1] == ["_worker"]:
        return worker_main(argv[1:])
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True, help="a data dir filled by bench/load_store.py")
    ap.add_argument("--scenarios", default="metadata,read,search,create")
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument(
        "--client",
        choices=["raw", "httpx", "wrk", "auto"],
        default="raw",
        help="raw: asyncio streams (default); httpx: httpx.AsyncClient; wrk: Debian wrk; "
        "auto: wrk if installed, else raw",
    )
    ap.add_argument("--sqlite-synchronous", choices=["FULL", "NORMAL"], default="FULL")
    ap.add_argument("--samples", type=int, default=20000, help="ids/matricules sampled from the store")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--no-auth", action="store_true", help="start the server with --no-auth (no token, no audit)")
    ap.add_argument(
        "--actor",
        choices=["system", "practitioner"],
        default="system",
        help="who calls (authentication on): a system client (system/*.cruds, sees everything), or a "
        "practitioner who is médecin référent of the patients read and searched (user/*.cruds)",
    )
    ap.add_argument("--practitioner", metavar="ID", help="with --actor practitioner: this one (default: found)")
    args = ap.parse_args(argv)
    if args.no_auth and args.actor != "system":
        ap.error("--actor practitioner needs authentication: drop --no-auth")

    db = args.data_dir / "fhir.sqlite3"
    if not db.is_file():
        ap.error(f"{db} not found: fill it first with bench/load_store.py")
    client = args.client
    if client == "auto":
        client = "wrk" if shutil.which("wrk") else "raw"
    if client == "wrk" and not shutil.which("wrk"):
        ap.error("wrk is not installed (apt-get install wrk), use --client raw")
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s not in EXPECTED:
            ap.error(f"unknown scenario {s!r}")
    levels = [int(c) for c in args.concurrency.split(",")]

    samples = sample_store(db, args.samples, args.seed)
    if not samples["ids"] or not samples["matricules"]:
        ap.error("the store holds no Patient with a matricule")
    store_mb = sum(Path(str(db) + s).stat().st_size for s in ("", "-wal") if Path(str(db) + s).exists()) / 1e6

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    auth_on = not args.no_auth
    rows: list[dict] = []
    peak_rss = None
    with tempfile.TemporaryDirectory(prefix="fhir-bench-") as tmp:
        workdir = Path(tmp)
        samples_path = workdir / "samples.json"  # holds the token: in a private temporary folder
        if auth_on:
            samples["authorization"] = "Bearer " + mint_token(args.data_dir, url, system="bench")
        auth_desc = "off (--no-auth): no token, no AuditEvent"
        server_log = workdir / "server.stderr"
        server = start_server(args.data_dir, port, args.sqlite_synchronous, server_log, auth=auth_on)
        try:
            if auth_on and args.actor == "practitioner":
                mr = practitioner_samples(url, samples["authorization"], args.practitioner)
                token = "Bearer " + mint_token(args.data_dir, url, practitioner=mr["practitioner"])
                readable = _readable(url, token, mr["patients"])
                if not readable or not mr["matricules"]:
                    raise RuntimeError(f"Practitioner/{mr['practitioner']} can read none of its MR patients")
                mine = set(mr["patients"])
                samples.update(
                    other_ids=[i for i in samples["ids"][:200] if i not in mine],
                    other_matricules=[m for m in samples["matricules"][:200] if m not in set(mr["matricules"])],
                    ids=readable,
                    matricules=mr["matricules"],
                    authorization=token,
                )
                auth_desc = (
                    f"on — practitioner token (`fhir-server token --practitioner`, user/*.cruds) for "
                    f"Practitioner/{mr['practitioner']}, médecin référent of {len(mr['patients'])} patients "
                    f"({len(readable)} readable, sampled for read/search/$mr-status; identities "
                    f"{', '.join(mr['identities'])})"
                )
            elif auth_on:
                auth_desc = "on — system client token (`fhir-server token --system bench`, system/*.cruds)"
            samples_path.write_text(json.dumps(samples))
            sanity = sanity_check(url, samples, scenarios, auth=auth_on)
            audit_before = wait_audit_drained(db, server.pid)[0] if auth_on else 0
            for scenario in scenarios:
                for c in levels:
                    print(f"{scenario:>8} c={c:<3} ...", end=" ", file=sys.stderr, flush=True)
                    row_cpu0 = proc_cpu_seconds(server.pid)
                    if client == "wrk" and scenario in ("read", "search", "create", "metadata"):
                        result = run_wrk(url, scenario, c, args.duration, args.warmup, samples, workdir, server.pid)
                        server_cpu = result.pop("server_cpu_pct")
                    else:
                        cmd = [
                            sys.executable,
                            str(Path(__file__).resolve()),
                            "_worker",
                            "--url",
                            url,
                            "--scenario",
                            scenario,
                            "--concurrency",
                            str(c),
                            "--duration",
                            str(args.duration),
                            "--warmup",
                            str(args.warmup),
                            "--samples",
                            str(samples_path),
                            "--lib",
                            "raw" if client == "wrk" else client,
                        ]
                        worker = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
                        time.sleep(args.warmup)  # server CPU measured over the measured window only
                        cpu0, w0 = proc_cpu_seconds(server.pid), time.monotonic()
                        out, _ = worker.communicate(timeout=args.warmup + args.duration + 120)
                        cpu1, w1 = proc_cpu_seconds(server.pid), time.monotonic()
                        if worker.returncode != 0:
                            raise RuntimeError(f"load generator failed ({worker.returncode})")
                        result = json.loads(out.strip().splitlines()[-1])
                        server_cpu = None
                        if cpu0 is not None and cpu1 is not None:
                            server_cpu = 100 * (cpu1 - cpu0) / (w1 - w0)
                    row = {"scenario": scenario, "concurrency": c, **result, "server_cpu_pct": server_cpu}
                    sent = row.get("all_requests") or row["requests"]
                    if auth_on:
                        audit_after, drain = wait_audit_drained(db, server.pid)
                        row.update(
                            audit_events=audit_after - audit_before,
                            audit_per_request=(audit_after - audit_before) / sent if sent else None,
                            audit_drain_s=drain,
                            rps_incl_audit=sent / (args.warmup + row["wall_s"] + drain),
                        )
                        audit_before = audit_after
                    row_cpu1 = proc_cpu_seconds(server.pid)
                    # server CPU per request over the whole row: warm-up, measured window and (auth on)
                    # the audit backlog — comparable between runs even when other work shares the cores
                    if row_cpu0 is not None and row_cpu1 is not None and sent:
                        row["server_cpu_us_per_req"] = 1e6 * (row_cpu1 - row_cpu0) / sent
                    rows.append(row)
                    print(
                        f"{row['rps']:8.0f} req/s  p50 {fmt(row['p50_ms'], 2)} ms  p99 {fmt(row['p99_ms'], 2)} ms  "
                        f"errors {row['errors']}  client CPU {fmt(row['client_cpu_pct'], 0)}%  "
                        f"server CPU {fmt(server_cpu, 0)}% = {fmt(row.get('server_cpu_us_per_req'), 0)} µs/req"
                        + (
                            f"  audit {fmt(row['audit_per_request'], 2)}/req, drained in {row['audit_drain_s']:.1f} s"
                            if auth_on
                            else ""
                        ),
                        file=sys.stderr,
                        flush=True,
                    )
            peak_rss = _vm_kb(server.pid, "VmHWM") / 1024
        finally:
            server.terminate()
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
            server_log_text = server_log.read_text(errors="replace")

    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cpu": next(
            (
                line.split(":", 1)[1].strip()
                for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")
            ),
            platform.processor(),
        )
        if Path("/proc/cpuinfo").exists()
        else platform.processor(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "data_dir": str(args.data_dir),
        "store_counts": samples["counts"],
        "store_resources": sum(samples["counts"].values()),
        "store_mb": store_mb,
        "search_total_query": f"{samples['total_query']} ({samples['total_matches']} matches)",
        "synchronous": args.sqlite_synchronous,
        "client": {
            "wrk": "wrk (Debian)",
            "httpx": "asyncio + httpx.AsyncClient (uvloop)",
            "raw": "asyncio streams HTTP/1.1 client (uvloop)",
        }[client],
        "warmup": args.warmup,
        "duration": args.duration,
        "auth_on": auth_on,
        "actor": args.actor if auth_on else None,
        "auth": auth_desc,
        "sanity_checks": sanity["checks"],
        "server_peak_rss_mb": peak_rss,
        "audit_lost_log_lines": sum("AuditEvent lost" in line for line in server_log_text.splitlines()),
        "command": " ".join(
            [
                sys.executable.replace(str(REPO) + "/", ""),
                str(Path(__file__).resolve()).replace(str(REPO) + "/", ""),
                *argv,
            ]
        ),
    }
    md, js = write_reports(args.out, meta, rows)
    print(f"wrote {md} and {js}", file=sys.stderr)
    print(md.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
