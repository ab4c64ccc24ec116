"""Side by side: two or more bench/run_all.py (or http_bench.py) results, e.g. --no-auth vs auth on.

    .venv/bin/python bench/compare.py bench/results/100k-noauth/run_all.json bench/results/100k-auth/run_all.json

Prints a markdown table per scenario and concurrency: req/s, p95 and the server's CPU µs per request
of each run, and the extra CPU per request of each run over the first one. CPU per request is the
figure to compare when other work shares the machine: throughput moves with it, CPU cost much less.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run_all import LABELS  # noqa: E402


def load(path: Path) -> tuple[str, dict[tuple[str, int], dict]]:
    data = json.loads(path.read_text())
    http = data.get("http", data)  # run_all.json holds http_bench's result under "http"
    meta = http["meta"]
    name = "auth off" if not meta.get("auth_on") else f"auth on ({meta.get('actor')})"
    return name, {(r["scenario"], r["concurrency"]): r for r in http["results"]}


def fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+", type=Path, help="run_all.json / latest.json files; the first is the base")
    ap.add_argument("--names", help="comma-separated column names (default: from the runs)")
    args = ap.parse_args(argv)
    runs = [load(p) for p in args.results]
    names = args.names.split(",") if args.names else [n for n, _ in runs]
    keys = list(dict.fromkeys(k for _, rows in runs for k in rows))
    head = ["scenario", "clients"]
    for i, n in enumerate(names):
        head += [f"req/s {n}", f"p95 ms {n}", f"CPU µs/req {n}"] + ([f"extra µs/req {n}"] if i else [])
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for key in keys:
        cells = [LABELS.get(key[0], key[0]), str(key[1])]
        base = runs[0][1].get(key, {}).get("server_cpu_us_per_req")
        for i, (_, rows) in enumerate(runs):
            r = rows.get(key, {})
            cpu = r.get("server_cpu_us_per_req")
            cells += [fmt(r.get("rps")), fmt(r.get("p95_ms"), 2), fmt(cpu)]
            if i:
                extra = cpu - base if cpu is not None and base is not None else None
                cells.append(f"+{fmt(extra)} (×{cpu / base:.1f})" if extra is not None and base else "–")
        lines.append("| " + " | ".join(cells) + " |")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
