"""The whole benchmark of issue 9 in one command: markdown + JSON tables.

    .venv/bin/python bench/run_all.py --data-dir /tmp/fhir-bench-lu --patients 10000
    .venv/bin/python bench/run_all.py --data-dir /tmp/fhir-bench-lu --duration 3 --warmup 1   # quick

1. import: if ``--data-dir`` holds no store, generates ``--patients`` with bench/generate.py and
   times ``fhir-server load`` on them (resources per second, full validation);
2. HTTP: bench/http_bench.py (its separate load-generator process and its client/server CPU
   figures) on read-only scenarios first — read, vread, token search, date range, reference,
   chained, _include, $mr-status — then the writing ones: create, update, transaction of 100
   entries; at each ``--concurrency`` level (default 1,8,32);
3. memory: the server is started again and warmed with reads and searches; its RSS (VmRSS) and
   peak (VmHWM) from /proc;
4. store size per million resources: the SQLite file size (+WAL) divided by the resource count
   and scaled to 1,000,000 — an extrapolation from the measured store, said so in the table;
5. writes ``<out>/run_all.md`` and ``<out>/run_all.json`` (the per-scenario rows are also in
   http_bench's ``latest.*`` of the same folder).

The write scenarios change the store (new Patients, versions): copy the data dir first to keep it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))

import http_bench  # noqa: E402

READS = "read,vread,search,search-date,search-reference,search-chain,search-include,mr-status"
WRITES = "create,update,transaction"
LABELS = {
    "read": "read by id",
    "vread": "vread",
    "search": "token search (matricule)",
    "search-date": "date-range search (birthdate, 30 days)",
    "search-reference": "reference search (Condition?subject)",
    "search-chain": "chained search (CareTeam?subject:Patient.identifier)",
    "search-include": "_include (Condition?subject&_include=Condition:subject)",
    "mr-status": "$mr-status",
    "create": "create (POST Patient)",
    "update": "update (PUT Patient)",
    "transaction": "transaction of 100 entries",
    "metadata": "metadata (baseline)",
    "search-total": "search _total=accurate",
}


def store_stats(db: Path) -> dict:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        counts = dict(conn.execute("SELECT type, count(*) FROM resources WHERE body IS NOT NULL GROUP BY type"))
    finally:
        conn.close()
    size = sum(Path(str(db) + s).stat().st_size for s in ("", "-wal") if Path(str(db) + s).exists())
    n = sum(counts.values())
    return {"counts": counts, "resources": n, "bytes": size, "mb_per_million": size / 1e6 / n * 1e6 if n else None}


def import_data(data_dir: Path, patients: int, seed: int, batch: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="fhir-gen-") as tmp:
        gen_started = time.perf_counter()
        subprocess.run(
            [sys.executable, str(HERE / "generate.py"), "--patients", str(patients), "--seed", str(seed),
             "--out", tmp],
            check=True,
        )  # fmt: skip
        gen_s = time.perf_counter() - gen_started
        files = sorted(Path(tmp).glob("*.ndjson"))
        started = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "fhir_server", "load", *map(str, files), "--data-dir", str(data_dir),
             "--batch", str(batch)],
            cwd=REPO, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.perf_counter() - started
    if proc.returncode != 0:
        raise RuntimeError(f"fhir-server load failed: {proc.stderr[-2000:]}")
    m = re.search(r"loaded (\d+) resources .* in ([\d.]+) s = (\d+) resources/s", proc.stdout)
    cpu = re.search(r"CPU: ([\d.]+) s in this process, ([\d.]+) s in (\d+) validation worker", proc.stdout)
    assert m and cpu, proc.stdout
    return {
        "patients": patients,
        "generate_s": gen_s,
        "resources": int(m.group(1)),
        "load_s": float(m.group(2)),
        "per_second": float(m.group(3)),
        "wall_s_with_startup": wall,
        "cpu_us_per_resource": (float(cpu.group(1)) + float(cpu.group(2))) / int(m.group(1)) * 1e6,
        "validation_workers": int(cpu.group(3)),
        "load_average_after": os.getloadavg()[0],
        "summary": proc.stdout.strip(),
    }


def memory(data_dir: Path, samples: dict, auth: bool) -> dict:
    import httpx

    port = http_bench.free_port()
    url = f"http://127.0.0.1:{port}"
    headers = {"Accept": "application/fhir+json"}
    if auth:
        headers["Authorization"] = "Bearer " + http_bench.mint_token(data_dir, url, system="bench")
    with tempfile.TemporaryDirectory() as tmp:
        server = http_bench.start_server(data_dir, port, "FULL", Path(tmp) / "server.stderr", auth=auth)
        try:
            with httpx.Client(base_url=url, headers=headers, timeout=60) as c:
                for pid in samples["ids"][:300]:
                    c.get(f"/Patient/{pid}")
                    c.get("/Condition", params={"subject": f"Patient/{pid}", "_include": "Condition:subject"})
                for mat in samples["matricules"][:300]:
                    c.get("/CareTeam", params={"subject:Patient.identifier": f"{http_bench.MATRICULE_SYSTEM}|{mat}"})
            if auth:
                http_bench.wait_audit_drained(data_dir / "fhir.sqlite3", server.pid)
            status = Path(f"/proc/{server.pid}/status").read_text()
            kb = {k: int(v.split()[0]) for k, v in re.findall(r"^(VmRSS|VmHWM):\s+(.*)$", status, re.M)}
        finally:
            server.terminate()
            server.wait(timeout=15)
    return {"rss_mb": kb.get("VmRSS", 0) / 1024, "peak_rss_mb": kb.get("VmHWM", 0) / 1024, "warm_requests": 900}


def ceiling(db: Path, args: argparse.Namespace) -> list[dict]:
    """Read throughput of bench/ceiling_app.py (bare ASGI, same bytes) at each concurrency. With
    authentication on, the requests carry an Authorization header like ours (the bare app ignores it:
    the ceiling is the HTTP stack's cost for the same request and response bytes)."""
    import sqlite3

    import httpx

    samples = http_bench.sample_store(db, 1000, args.seed)
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        body = conn.execute(
            "SELECT body FROM resources WHERE type = 'Patient' AND id = ?", (samples["ids"][0],)
        ).fetchone()[0]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        body_file, samples_file = Path(tmp) / "body.json", Path(tmp) / "samples.json"
        body_file.write_bytes(body)
        samples_file.write_text(json.dumps(samples))
        port = http_bench.free_port()
        if not args.no_auth:  # a token of the same shape, minted for this port (never checked)
            samples["authorization"] = "Bearer " + http_bench.mint_token(
                args.data_dir, f"http://127.0.0.1:{port}", system="bench"
            )
        samples_file.write_text(json.dumps(samples))
        env = {**os.environ, "CEILING_BODY_FILE": str(body_file), "PYTHONPATH": str(HERE.parent)}
        cmd = [sys.executable, "-m", "uvicorn", "bench.ceiling_app:app", "--port", str(port), "--log-level", "warning"]
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(100):
                try:
                    httpx.get(url + "/Patient/x", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            for c in [int(c) for c in args.concurrency.split(",")]:
                worker = [sys.executable, str(HERE / "http_bench.py"), "_worker", "--url", url, "--scenario", "read",
                          "--concurrency", str(c), "--duration", str(args.duration), "--warmup", str(args.warmup),
                          "--samples", str(samples_file)]  # fmt: skip
                cpu0 = http_bench.proc_cpu_seconds(server.pid)
                out = subprocess.run(worker, capture_output=True, text=True, check=True).stdout
                cpu1 = http_bench.proc_cpu_seconds(server.pid)
                row = {"concurrency": c, **json.loads(out.strip().splitlines()[-1])}
                sent = row.get("all_requests") or row["requests"]
                if cpu0 is not None and cpu1 is not None and sent:
                    row["server_cpu_us_per_req"] = 1e6 * (cpu1 - cpu0) / sent
                rows.append(row)
        finally:
            server.terminate()
            server.wait(timeout=15)
    return rows


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--patients", type=int, default=1000, help="generated and imported when the store is absent")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--concurrency", default="1,8,32")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--scenarios", help=f"default: {READS},{WRITES} (system actor), {READS} (practitioner)")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--no-auth", action="store_true", help="server with --no-auth: no token, no AuditEvent")
    ap.add_argument("--actor", choices=["system", "practitioner"], default="system", help="see http_bench.py")
    ap.add_argument("--practitioner", metavar="ID", help="with --actor practitioner: this one (default: found)")
    ap.add_argument("--skip", default="", help="comma-separated parts not to run: memory, ceiling")
    args = ap.parse_args(argv)
    if args.scenarios is None:
        args.scenarios = READS if args.actor == "practitioner" else f"{READS},{WRITES}"
    skip = {x.strip() for x in args.skip.split(",") if x.strip()}

    db = args.data_dir / "fhir.sqlite3"
    result: dict = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "command": " ".join(["bench/run_all.py", *argv])}
    if not db.exists():
        print(f"generating {args.patients} patients and importing them …", file=sys.stderr)
        result["import"] = import_data(args.data_dir, args.patients, args.seed, args.batch)
    else:
        result["import"] = None
    result["store_before"] = store_stats(db)

    args.out.mkdir(parents=True, exist_ok=True)
    auth_args = ["--no-auth"] if args.no_auth else ["--actor", args.actor]
    if args.practitioner:
        auth_args += ["--practitioner", args.practitioner]
    rc = http_bench.main(
        ["--data-dir", str(args.data_dir), "--scenarios", args.scenarios, "--concurrency", args.concurrency,
         "--duration", str(args.duration), "--warmup", str(args.warmup), "--out", str(args.out), *auth_args]
    )  # fmt: skip
    if rc != 0:
        return rc
    bench = json.loads((args.out / "latest.json").read_text())
    result["http"] = bench
    samples = http_bench.sample_store(db, 300, args.seed)
    result["auth"] = bench["meta"]["auth"]
    result["memory"] = None if "memory" in skip else memory(args.data_dir, samples, not args.no_auth)
    result["ceiling"] = [] if "ceiling" in skip else ceiling(db, args)
    result["store_after"] = store_stats(db)

    json_path, md_path = args.out / "run_all.json", args.out / "run_all.md"
    json_path.write_text(json.dumps(result, indent=2) + "\n")
    meta = bench["meta"]
    s = result["store_before"]
    lines = [
        "# Benchmark (issue 9) — bench/run_all.py",
        "",
        f"- date: {result['date']}; machine: {meta['cpu']} × {meta['cpus']} CPUs; Python {meta['python']}",
        f"- command: `{result['command']}`",
        f"- store: {s['resources']} resources before the HTTP runs "
        f"({', '.join(f'{k} {v}' for k, v in sorted(s['counts'].items()))})",
        f"- client: {meta['client']}, a separate process; {meta['warmup']:.0f} s warm-up, "
        f"{meta['duration']:.0f} s measured",
        "",
        "## Import",
        "",
    ]
    imp = result["import"]
    if imp:
        lines += [
            "| patients | resources | load s | resources/s | CPU µs/resource | load average after | generate s |",
            "|---:|---:|---:|---:|---:|---:|---:|",
            f"| {imp['patients']} | {imp['resources']} | {imp['load_s']:.1f} | {imp['per_second']:.0f} "
            f"| {imp.get('cpu_us_per_resource', 0):.0f} | {imp.get('load_average_after', 0):.1f} "
            f"| {imp['generate_s']:.1f} |",
            "",
            f"`fhir-server load` through the Repository, full validation and LU profile enforcement, "
            f"validation in {imp.get('validation_workers', '?')} worker processes (its default: one per core); "
            "CPU of the command and its workers per resource.",
        ]
    else:
        lines.append("Not measured: the store existed (remove it or use another --data-dir to measure the import).")
    f = http_bench.fmt
    lines += [
        "",
        "## HTTP",
        "",
        f"Authentication: {meta['auth']}.",
        "",
        f"Sanity checks passed before measuring: {'; '.join(meta['sanity_checks'])}.",
        "",
        *http_bench.table_lines(bench["results"], meta["auth_on"], lambda sc: LABELS.get(sc, sc)),
        "",
        "*server CPU µs/req*: the server's CPU time over the whole row (warm-up, measured window and the audit",
        "backlog) per request — the cost of a request, comparable between runs when other work shares the cores.",
        *(http_bench.AUDIT_NOTE if meta["auth_on"] else []),
    ]
    reads = {r["concurrency"]: r for r in bench["results"] if r["scenario"] == "read"}
    lines += [
        "",
        "## Ceiling of the stack",
        "",
        "| clients | bare ASGI req/s | our read req/s | ratio | bare ASGI CPU µs/req | our read CPU µs/req "
        "| ratio by CPU |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["ceiling"]:
        mine = reads.get(row["concurrency"], {})
        rps, cpu = mine.get("rps"), mine.get("server_cpu_us_per_req")
        ratio = f"{100 * rps / row['rps']:.0f} %" if rps and row["rps"] else "–"
        ceiling_cpu = row.get("server_cpu_us_per_req")
        cpu_ratio = f"{100 * ceiling_cpu / cpu:.0f} %" if cpu and ceiling_cpu else "–"
        lines.append(
            f"| {row['concurrency']} | {row['rps']:.0f} | {f(rps, 0)} | {ratio} | {f(ceiling_cpu, 0)} | {f(cpu, 0)} "
            f"| {cpu_ratio} |"
        )
    lines += [
        "",
        "The ceiling is `bench/ceiling_app.py`: a bare ASGI app under uvicorn (one worker, like the server),",
        "answering the same bytes and headers as a read, measured by the same load generator"
        + (" with the same Authorization header (not checked by it)." if meta["auth_on"] else "."),
        "*ratio by CPU* = the bare app's CPU per request / ours: the throughput ratio the server would reach with",
        "a core of its own (throughput ratios move with the other work on the machine, CPU costs much less).",
    ]
    m, b, a = result["memory"], result["store_before"], result["store_after"]
    audit_after = a["counts"].get("AuditEvent", 0)
    lines += [
        "",
        "Client CPU % well below the server's (≈100 % = one core, the server's one event loop) shows the load",
        "generator is not the bottleneck.",
        "",
        "## Memory and store size",
        "",
        "| server RSS MB (fresh, warm) | its peak MB | peak RSS MB during the HTTP runs | store MB before → after "
        "| resources before → after (AuditEvents after) | MB per million resources before → after |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {f(m and m['rss_mb'], 0)} | {f(m and m['peak_rss_mb'], 0)} | {f(meta.get('server_peak_rss_mb'), 0)} "
        f"| {b['bytes'] / 1e6:.0f} → {a['bytes'] / 1e6:.0f} | {b['resources']} → {a['resources']} ({audit_after}) "
        f"| {f(b['mb_per_million'], 0)} → {f(a['mb_per_million'], 0)} |",
        "",
        "Fresh RSS from /proc/<pid>/status of a new server after 900 warm-up reads/searches (one at a time);",
        "the peak during the HTTP runs is that server's VmHWM at the end (32 clients, audit backlog included).",
        "The size per million resources is **extrapolated linearly** from this store (SQLite file + WAL);",
        "AuditEvents count as resources, and the write scenarios add Patients and versions.",
    ]
    lines += ["", "## Against the targets of issue 9", "", "| target | measured | |", "|---|---|---|"]
    for c, row in sorted(reads.items()):
        ceil = next((x for x in result["ceiling"] if x["concurrency"] == c), None)
        if ceil:
            ratio = 100 * row["rps"] / ceil["rps"]
            cpu = row.get("server_cpu_us_per_req")
            cpu_ratio = 100 * ceil["server_cpu_us_per_req"] / cpu if cpu and ceil.get("server_cpu_us_per_req") else None
            ok = "met" if ratio >= 50 else "**not met**"
            lines.append(
                f"| reads ≥ 50 % of the ceiling ({c} clients) | {ratio:.0f} % (by CPU: {f(cpu_ratio, 0)} %) | {ok} |"
            )
    if imp:
        ok = "met" if imp["per_second"] >= 2000 else "**not met**"
        lines.append(f"| import ≥ 2,000 resources/s, full validation | {imp['per_second']:.0f} /s | {ok} |")
    else:
        lines.append("| import ≥ 2,000 resources/s, full validation | not measured in this run (store existed) | |")
    for r in bench["results"]:
        if r["scenario"] == "search" and r.get("p95_ms") is not None:
            ok = "met" if r["p95_ms"] < 50 else "**not met**"
            lines.append(
                f"| selective search first page p95 < 50 ms (token, {r['concurrency']} clients) "
                f"| {r['p95_ms']:.2f} ms | {ok} |"
            )
    rss = [x for x in (m and m["rss_mb"], meta.get("server_peak_rss_mb")) if x]
    if rss:
        ok = "met" if max(rss) < 400 else "**not met**"
        lines.append(f"| RSS < 400 MB | fresh {f(m and m['rss_mb'], 0)} MB, peak under load "
                     f"{f(meta.get('server_peak_rss_mb'), 0)} MB | {ok} |")  # fmt: skip
    lines.append("")
    md_path.write_text("\n".join(lines))
    print(md_path.read_text())
    print(f"wrote {md_path} and {json_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
