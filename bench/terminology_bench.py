"""Terminology speed: in-process $lookup and $validate-code (p50/p95 µs), and server start.

    .venv/bin/python bench/terminology_bench.py [--n 20000]

"In-process" means the operation handlers themselves (Parameters in, Parameters out),
as the validator or the MR rules would call the service plus the FHIR wrapping, without HTTP.
Start time: a fresh process creating the app (all terminology loaded) and running its
lifespan (publishing the terminology into an empty SQLite store, then into an existing one).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from fhir_server.api.messages import FhirRequest  # noqa: E402
from fhir_server.api.operations import OperationCall, Parameters  # noqa: E402
from fhir_server.api.terminology_operations import TerminologyOperations  # noqa: E402
from fhir_server.terminology import TerminologyService  # noqa: E402

ICD10 = "http://hl7.org/fhir/sid/icd-10"
QUALIFYING = "https://fhir.mr.lu/ValueSet/icd10-ald-qualifying"

START = """
import asyncio, sys, tempfile, time, warnings
t0 = time.perf_counter()
warnings.simplefilter("ignore")
from pathlib import Path
from fastapi.testclient import TestClient
from fhir_server.app import create_app
from fhir_server.config import Settings
folder = Path(sys.argv[1])
with TestClient(create_app(Settings(data_dir=folder, log_requests=False))) as c:
    assert c.get("/CodeSystem/icd-10/$lookup?code=G35").status_code == 200
print(time.perf_counter() - t0)
"""


def _call(resource_type: str, pairs: list[tuple[str, str]]) -> OperationCall:
    return OperationCall(
        FhirRequest("GET", [resource_type, "$x"], pairs), resource_type, None, Parameters.from_query(pairs), None
    )


def measure(label: str, handler, calls: list[OperationCall], n: int) -> None:
    loop = asyncio.new_event_loop()
    samples = []
    for i in range(n):
        call = calls[i % len(calls)]
        t = time.perf_counter_ns()
        loop.run_until_complete(handler(call))
        samples.append((time.perf_counter_ns() - t) / 1000)
    samples.sort()
    p50, p95 = statistics.median(samples), samples[int(len(samples) * 0.95)]
    print(f"{label:<42} p50 {p50:7.1f} µs   p95 {p95:7.1f} µs   (n={n})")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=20000)
    args = parser.parse_args()
    t = time.perf_counter()
    service = TerminologyService(TerminologyService.load().resources)  # uncached: the real load
    print(f"terminology load (all files, indexes, value sets pre-expanded): {(time.perf_counter() - t) * 1000:.0f} ms")
    ops = TerminologyOperations(service)
    codes = ["G35", "E84.0", "J06.9", "C50.9", "I63.9", "G20", "F10.7", "XX"]
    measure(
        "CodeSystem $lookup (ICD-10)",
        ops.lookup,
        [_call("CodeSystem", [("system", ICD10), ("code", c)]) for c in codes[:-1]],
        args.n,
    )
    measure(
        "CodeSystem $validate-code (ICD-10)",
        ops.codesystem_validate_code,
        [_call("CodeSystem", [("url", ICD10), ("code", c)]) for c in codes],
        args.n,
    )
    measure(
        "ValueSet $validate-code (ALD-qualifying)",
        ops.valueset_validate_code,
        [_call("ValueSet", [("url", QUALIFYING), ("system", ICD10), ("code", c)]) for c in codes],
        args.n,
    )
    measure(
        "service.validate_in_valueset (no FHIR wrap)",
        lambda call: _sync(service.validate_in_valueset(QUALIFYING, ICD10, call.parameters.text("code"))),
        [_call("ValueSet", [("code", c)]) for c in codes],
        args.n,
    )
    import tempfile

    folder = Path(tempfile.mkdtemp())
    for label in ("server start, empty store (publishes terminology)", "server start, terminology already stored"):
        out = subprocess.run(
            [sys.executable, "-c", START, str(folder)], capture_output=True, text=True, cwd=ROOT, check=True
        )
        print(f"{label:<52} {float(out.stdout.strip()) * 1000:.0f} ms (imports included)")


async def _sync(value):
    return value


if __name__ == "__main__":
    main()
