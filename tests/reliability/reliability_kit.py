"""Helpers of the reliability suite: the run's scale, the real server as a process, and small
HTTP assertions. Imported as ``reliability_kit`` (the suite's folder is on sys.path).

The server process helpers are tests/process's (loaded from its conftest.py, not copied);
every server started here runs with ``--no-auth``, which binds it to loopback.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from hypothesis import HealthCheck, settings

FHIR_JSON = "application/fhir+json"
JSON_HEADERS = {"Content-Type": FHIR_JSON, "Accept": FHIR_JSON}


def _process_helpers() -> ModuleType:
    """tests/process/conftest.py as a module of its own (conftest modules are not importable by name)."""
    name = "process_server_helpers"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).parents[1] / "process" / "conftest.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # before running it: its dataclasses look themselves up there
        spec.loader.exec_module(module)
    return sys.modules[name]


_process = _process_helpers()
ServerProcess = _process.ServerProcess


class ServerFactory(_process.ServerFactory):
    """tests/process's server factory; every server without authentication (loopback only)."""

    def __call__(self, data_dir: Path | None, *, args: list[str] | None = None, **kwargs: Any) -> ServerProcess:
        return super().__call__(data_dir, args=["--no-auth", *(args or [])], **kwargs)


@dataclass(frozen=True)
class Scale:
    """How much each reliability test does: the short CI version, or the long one."""

    name: str
    crash_rounds: int
    load_requests: int
    fuzz_phases: str  # schemathesis phases
    fuzz_examples: int  # per API operation and phase
    min_fuzz_requests: int
    property_examples: int  # Hypothesis examples per property
    race_clients: int


SHORT = Scale("short", 3, 3_000, "fuzzing", 1, 300, 60, 8)
LONG = Scale("long", 20, 100_000, "coverage,fuzzing,stateful", 25, 10_000, 1_000, 32)
SCALE = LONG if os.environ.get("FHIR_RELIABILITY", "short") == "long" else SHORT


def property_settings(examples: int) -> settings:
    """Hypothesis settings of the suite: no example database on disk, no deadline (a server
    answers in its own time), the same examples on every short (CI) run, new ones on long runs."""
    return settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=SCALE is SHORT,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def assert_outcome(response: httpx.Response, *statuses: int) -> dict[str, Any]:
    """The response is one of ``statuses`` and its body an OperationOutcome with an issue."""
    assert response.status_code in statuses, (response.status_code, response.text[:500])
    assert response.headers["content-type"].startswith(FHIR_JSON), response.headers
    body = response.json()
    assert body["resourceType"] == "OperationOutcome" and body["issue"], body
    return body


def history_total(client: httpx.Client) -> int:
    """Versions in the whole store: unchanged when nothing was written."""
    response = client.get("/_history", params={"_count": "0"})
    assert response.status_code == 200, response.text
    return response.json()["total"]
