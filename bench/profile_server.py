"""Where the server's time goes during a load run: py-spy samples the real server process.

    .venv/bin/pip install py-spy     # once
    .venv/bin/python bench/profile_server.py --data-dir /tmp/fhir-bench-1m --scenario read --concurrency 8
    .venv/bin/python bench/profile_server.py --data-dir D --scenario read --actor practitioner
    .venv/bin/python bench/profile_server.py --data-dir D --scenario read --no-auth

1. starts ``fhir-server serve`` like bench/http_bench.py (authentication on unless ``--no-auth``; the
   token from ``fhir-server token``; ``--actor practitioner`` picks a médecin référent and its patients);
2. runs http_bench's load generator (a separate process) on ``--scenario`` at ``--concurrency`` for
   ``--warmup`` + ``--duration`` s, and ``py-spy record --nonblocking`` on the server for the measured
   ``--duration`` s, then keeps sampling while the audit backlog drains (``--drain``, default 10 s);
3. writes the collapsed stacks (``<out>/profile-<tag>.txt``, for flamegraph.pl / speedscope) and a
   summary ``<out>/profile-<tag>.md``: per category (token verification, access computation,
   audit, rendering, …) the share of the server's on-CPU samples and the CPU µs per request; the
   top functions by own time.

The server is one process with one event loop and no worker threads (SQLite is called inline), so
the on-CPU samples of its main thread are its cost. py-spy needs ptrace (root or CAP_SYS_PTRACE).
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import http_bench  # noqa: E402

# (label, regex on a frame "function (file.py:line)"); a sample counts for the first category (in
# this order) that one of its frames matches, so nested costs are not counted twice
CATEGORIES: list[tuple[str, str, bool]] = [
    ("audit: AuditEvent written (create_trusted: index extraction, SQL, commit)", r"\(.*audit_trail\.py:\d+\)", False),
    ("audit: AccessRecord built and queued (gate.audit)", r"(^|\.)audit \(.*gate\.py", False),
    ("token verification (Authlib JWT: signature, claims)", r"(^|\.)verify \(.*security/tokens\.py", False),
    ("actor from claims (scopes parsed)", r"(^|\.)actor_from_claims \(", False),
    ("access computation (care relations, consents: store queries)", r"(^|\.)_compute \(.*security/context\.py", False),
    ("visibility check of what is returned (check_visible)", r"(^|\.)check_visible \(", False),
    ("seen(): patients of each returned resource, for the audit", r"(^|\.)seen \(.*security/context\.py", False),
    ("MR operation ($mr-status facts and rules)", r"\(.*(api/mr|fhir_server/mr)/", False),
    ("search (parse, SQL, bundle)", r"(^|\.)search(_type)? \(.*(api/interactions|fhir/repository)\.py", False),
    ("store read (SQL)", r"\(.*store/sqlite\.py", False),
    ("rendering the response (_render, Response)", r"(^|\.)_render \(.*api/http\.py", False),
    ("request parsing (FhirRequest, negotiation)", r"(^|\.)_fhir_request \(.*api/http\.py", False),
    ("FHIR dispatch (handlers, repository)", r"(^|\.)_dispatch \(.*api/http\.py", False),
    ("metrics middleware (own time)", r"\(.*api/metrics\.py", True),
    ("Starlette / FastAPI (own time)", r"\(.*(starlette|fastapi)/", True),
    ("uvicorn + httptools: HTTP/1.1 parsing, transport (own time)", r"\(.*(uvicorn|httptools)/", True),
    ("event loop: uvloop, asyncio (own time)", r"\(.*(uvloop|asyncio)/", True),
]
"""(label, regex on a frame "Class.function (file.py:line)", leaf only). A sample counts for the first
category, in this order, that one of its frames matches (with leaf only: its innermost frame), so the
purpose categories (audit, token, access) take their nested SQL and rendering with them, and the
layers every request passes through (middleware, Starlette, uvicorn, the loop) count their own time."""


AUDIT_PARTS: list[tuple[str, str, bool]] = [
    ("AuditEvent dict built (audit_events.audit_event)", r"(^|\.)audit_event \(", False),
    ("index extraction (IndexExtractor.extract, FHIRPath)", r"IndexExtractor\.", False),
    ("index rows INSERT (_insert_index)", r"_insert_index", False),
    ("resource row INSERT + history (_SqliteTransaction.write)", r"_SqliteTransaction\.write", False),
    ("COMMIT, fsync (SqliteStore.transaction)", r"SqliteStore\.transaction", False),
    ("rest of Repository.create_trusted (ids, meta, JSON)", r"Repository\.", False),
]
"""The audit writer's samples, split the same way (its largest cost, so worth a closer look)."""


def categorize(stacks: Counter[str], categories: list[tuple[str, str, bool]] = CATEGORIES) -> list[tuple[str, int]]:
    compiled = [(label, re.compile(rx), leaf) for label, rx, leaf in categories]
    out: Counter[str] = Counter()
    for stack, n in stacks.items():
        frames = stack.split(";")
        for label, rx, leaf in compiled:
            if any(rx.search(f) for f in (frames[-1:] if leaf else frames)):
                out[label] += n
                break
        else:
            out["other"] += n
    return out.most_common()


def self_time(stacks: Counter[str], top: int) -> list[tuple[str, int]]:
    own: Counter[str] = Counter()
    for stack, n in stacks.items():
        own[stack.rsplit(";", 1)[-1]] += n
    return own.most_common(top)


def inclusive(stacks: Counter[str], top: int) -> list[tuple[str, int]]:
    """Samples in which a function appears at least once (its inclusive time), fhir_server code only."""
    inc: Counter[str] = Counter()
    for stack, n in stacks.items():
        for frame in set(stack.split(";")):
            if "fhir_server/" in frame:
                inc[frame] += n
    return inc.most_common(top)


def short(frame: str) -> str:
    return re.sub(r"\(/.*?(site-packages|fhir_server)/", r"(\1/", frame).replace("(site-packages/", "(")


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True)
    ap.add_argument("--scenario", default="read", choices=sorted(http_bench.EXPECTED))
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--duration", type=float, default=15.0, help="seconds sampled under load")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--drain", type=float, default=10.0, help="seconds sampled after the load (audit backlog)")
    ap.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    ap.add_argument("--no-auth", action="store_true")
    ap.add_argument("--actor", choices=["system", "practitioner"], default="system")
    ap.add_argument("--practitioner", metavar="ID")
    ap.add_argument("--samples", type=int, default=5000)
    ap.add_argument("--out", type=Path, default=HERE / "results")
    ap.add_argument("--tag", help="file name part (default: scenario-actor-concurrency)")
    args = ap.parse_args(argv)
    pyspy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(pyspy).exists():
        ap.error("py-spy is not installed: .venv/bin/pip install py-spy")
    auth_on = not args.no_auth
    tag = args.tag or f"{args.scenario}-{args.actor if auth_on else 'noauth'}-c{args.concurrency}"
    db = args.data_dir / "fhir.sqlite3"
    samples = http_bench.sample_store(db, args.samples, 1)
    port = http_bench.free_port()
    url = f"http://127.0.0.1:{port}"
    args.out.mkdir(parents=True, exist_ok=True)
    collapsed = args.out / f"profile-{tag}.txt"
    with tempfile.TemporaryDirectory(prefix="fhir-profile-") as tmp:
        work = Path(tmp)
        if auth_on:
            samples["authorization"] = "Bearer " + http_bench.mint_token(args.data_dir, url, system="bench")
        server = http_bench.start_server(args.data_dir, port, "FULL", work / "server.stderr", auth=auth_on)
        try:
            who = "system client" if auth_on else "no authentication"
            if auth_on and args.actor == "practitioner":
                mr = http_bench.practitioner_samples(url, samples["authorization"], args.practitioner)
                token = "Bearer " + http_bench.mint_token(args.data_dir, url, practitioner=mr["practitioner"])
                samples.update(ids=mr["patients"], matricules=mr["matricules"], authorization=token)
                who = f"Practitioner/{mr['practitioner']}, MR of {len(mr['patients'])} patients"
            (work / "samples.json").write_text(json.dumps(samples))
            http_bench.sanity_check(url, samples, [args.scenario], auth=auth_on)
            if auth_on:
                http_bench.wait_audit_drained(db, server.pid)
            worker = subprocess.Popen(
                [sys.executable, str(HERE / "http_bench.py"), "_worker", "--url", url, "--scenario", args.scenario,
                 "--concurrency", str(args.concurrency), "--duration", str(args.duration),
                 "--warmup", str(args.warmup), "--samples", str(work / "samples.json")],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            time.sleep(args.warmup)
            cpu0 = http_bench.proc_cpu_seconds(server.pid) or 0.0
            spy = subprocess.Popen(
                [pyspy, "record", "--pid", str(server.pid), "--duration", str(round(args.duration + args.drain)),
                 "--rate", str(args.rate), "--nonblocking", "--format", "raw", "--output", str(collapsed)],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )  # fmt: skip
            out, _ = worker.communicate(timeout=args.warmup + args.duration + 120)
            result = json.loads(out.strip().splitlines()[-1])
            _, spy_err = spy.communicate(timeout=args.duration + args.drain + 60)
            cpu1 = http_bench.proc_cpu_seconds(server.pid) or 0.0
            if spy.returncode != 0:
                raise RuntimeError(f"py-spy failed: {spy_err}")
        finally:
            server.terminate()
            server.wait(timeout=30)

    stacks: Counter[str] = Counter()
    for line in collapsed.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if stack:
            stacks[stack] += int(n)
    total = sum(stacks.values())
    # requests served while sampled: the measured window; the drain adds no request, only their audit
    requests = result["requests"]
    cpu_us = 1e6 * (cpu1 - cpu0) / requests if requests else 0.0
    lines = [
        f"# Profile of the server — {args.scenario}, {args.concurrency} clients, {who}",
        "",
        f"- {time.strftime('%Y-%m-%d %H:%M:%S %z')}; store `{args.data_dir}`; "
        f"`py-spy record --nonblocking --rate {args.rate}` for {args.duration:.0f} s under load + "
        f"{args.drain:.0f} s after it (the audit backlog)",
        f"- load: {result['requests']} requests in {result['wall_s']:.1f} s = {result['rps']:.0f} req/s, "
        f"p50 {http_bench.fmt(result['p50_ms'], 2)} ms, p99 {http_bench.fmt(result['p99_ms'], 2)} ms, "
        f"errors {result['errors']}",
        f"- server CPU over the sampled time: {cpu1 - cpu0:.1f} s = {cpu_us:.0f} µs per measured request; "
        f"{total} on-CPU samples",
        f"- collapsed stacks: `{collapsed.name}` (flamegraph.pl, speedscope.app)",
        "",
        "| where | share of samples | ≈ µs per request |",
        "|---|---:|---:|",
    ]
    for label, n in categorize(stacks):
        lines.append(f"| {label} | {100 * n / total:.1f} % | {cpu_us * n / total:.0f} |")
    audit_rx = re.compile(CATEGORIES[0][1])
    audit = Counter({k: n for k, n in stacks.items() if any(audit_rx.search(f) for f in k.split(";"))})
    if audit:
        lines += ["", "The audit writer's share, split:", "", "| part | share of all samples | ≈ µs per request |"]
        lines.append("|---|---:|---:|")
        for label, n in categorize(audit, AUDIT_PARTS):
            lines.append(f"| {label} | {100 * n / total:.1f} % | {cpu_us * n / total:.0f} |")
    lines += ["", "Top functions by own time:", "", "| function | own % |", "|---|---:|"]
    for frame, n in self_time(stacks, 25):
        lines.append(f"| `{short(frame)}` | {100 * n / total:.1f} |")
    lines += ["", "Top fhir_server functions by inclusive time:", "", "| function | incl. % |", "|---|---:|"]
    for frame, n in inclusive(stacks, 40):
        lines.append(f"| `{short(frame)}` | {100 * n / total:.1f} |")
    md = args.out / f"profile-{tag}.md"
    md.write_text("\n".join(lines) + "\n")
    print(md.read_text())
    print(f"wrote {md} and {collapsed}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
