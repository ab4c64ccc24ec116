"""Import throughput of ``fhir-server load`` (issue 9: ≥ 2,000 resources/s with full validation).

    .venv/bin/python bench/import_bench.py --patients 2000 --workers 0,2 --runs 2

Generates the LU data set once (``bench/generate.py``, deterministic by ``--seed``; or
``--data DIR`` for files already generated), then per ``--workers`` value and run loads it
into a fresh SQLite data dir under ``--tmp`` with the real command (``python -m fhir_server
load DIR --quiet --workers N``) and prints, per run: resources/s as the command reports it
(its own clock, from the first batch to the last commit: no start-up), wall seconds of the
whole command (start-up included), and CPU µs per resource of the command and its worker
processes (user + system). On a machine shared with other work, resources/s moves with the
others' load; CPU per resource much less: compare runs with it. The load average is printed
before and after each run. Data dirs are deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RATE = re.compile(r"loaded (\d+) resources .* = (\d+) resources/s")


def generate(patients: int, seed: int, out: Path) -> None:
    subprocess.run(
        [sys.executable, str(REPO / "bench/generate.py"), "--patients", str(patients), "--seed", str(seed),
         "--format", "ndjson", "--out", str(out)],
        check=True, capture_output=True,
    )  # fmt: skip


def load_once(data: Path, workers: str, batch: int, tmp: Path) -> dict[str, float]:
    data_dir = Path(tempfile.mkdtemp(prefix="import-bench-", dir=tmp))
    option = [] if workers == "-" else ["--workers", workers]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "fhir_server", "load", str(data), "--data-dir", str(data_dir), "--quiet",
             *option, "--batch", str(batch)],
            capture_output=True, text=True, cwd=REPO, env={**os.environ, "FHIR_SERVER_LOG_REQUESTS": "false"},
        )  # fmt: skip
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    match = RATE.search(done.stdout)
    if done.returncode != 0 or match is None:
        raise SystemExit(f"load failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-3000:]}")
    count = int(match.group(1))
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"resources": count, "per_second": int(match.group(2)), "wall": wall, "cpu_us": cpu / count * 1e6}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patients", type=int, default=2000, help="≈ 13 resources per patient (default 2000)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, help="NDJSON folder already generated (instead of --patients)")
    ap.add_argument(
        "--workers",
        default="0,2",
        help="comma-separated values of load --workers (default 0,2); '-': the command's default, "
        "also for versions of it before --workers",
    )
    ap.add_argument("--batch", type=int, default=500, help="load --batch (default 500)")
    ap.add_argument("--runs", type=int, default=2, help="runs per --workers value (default 2)")
    ap.add_argument("--tmp", type=Path, default=Path(tempfile.gettempdir()), help="where data dirs are made")
    args = ap.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="import-bench-data-", dir=args.tmp))
    try:
        data = args.data
        if data is None:
            data = scratch / "lu"
            generate(args.patients, args.seed, data)
        print(f"data: {data}  cores: {os.cpu_count()}")
        print("| workers | run | resources | resources/s | wall s | CPU µs/resource | load avg before → after |")
        print("|---:|---:|---:|---:|---:|---:|---|")
        for workers in args.workers.split(","):
            for run in range(1, args.runs + 1):
                load_before = os.getloadavg()[0]
                r = load_once(data, workers, args.batch, args.tmp)
                print(
                    f"| {workers} | {run} | {r['resources']:,} | {r['per_second']:,} | {r['wall']:.1f} | "
                    f"{r['cpu_us']:,.0f} | {load_before:.2f} → {os.getloadavg()[0]:.2f} |",
                    flush=True,
                )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
