"""Schemathesis against the server's own OpenAPI document (issue 11.3): every operation it
describes, generated valid and invalid requests, on a real server process with the demo data.
No answer may be a 5xx, none may take longer than the per-request timeout, and each must be
one the document declares, with the declared content type and schema.

Short version: the fuzzing phase, one example per operation and mode (about 500 requests).
Long version (FHIR_RELIABILITY=long): coverage, fuzzing and stateful phases, 25 examples per
operation: well over 10,000 requests, with a new seed each run (printed in the figures).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

REQUEST_TIMEOUT = 10  # seconds: an answer later than this counts as a hang
WORKERS = 1
"""One schemathesis worker: its workers are threads, and on CPython 3.11 two threads in ast.parse
at once (Hypothesis parses the source of each strategy's lambdas to describe it) corrupt a
recursion counter the AST constructor shares, failing a run now and then with "SystemError: AST
constructor recursion depth mismatch" (CPython gh-106905) before any request is sent."""
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


def test_schemathesis_finds_no_server_error_and_no_hang(demo_server, scale, figures, tmp_path: Path):
    seed = 1 if scale.name == "short" else random.randrange(2**32)
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{demo_server.base_url}/openapi.json",
        f"--checks={CHECKS}",
        f"--phases={scale.fuzz_phases}",
        f"--max-examples={scale.fuzz_examples}",
        f"--request-timeout={REQUEST_TIMEOUT}",
        f"--seed={seed}",
        f"--workers={WORKERS}",
        "--no-shrink",
        "--report=json",
        f"--report-dir={tmp_path}",
    ]
    run = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=3600)
    reports = list(tmp_path.glob("json-*.json"))
    assert len(reports) == 1, run.stdout[-3000:] + run.stderr[-3000:]
    report = json.loads(reports[0].read_text())
    cases = report["test_cases"]
    figures.append(
        f"schemathesis: {cases['generated']} requests on {report['operations']['tested']} operations "
        f"({scale.fuzz_phases}, seed {seed}), {cases['with_failures']} with failures, {cases['errored']} errored"
    )
    assert run.returncode == 0, run.stdout.partition("WARNINGS")[0][-8000:]  # the failures, with curl commands
    assert report["operations"]["tested"] >= 500
    assert cases["generated"] >= scale.min_fuzz_requests
    assert demo_server.alive()
