"""Fixtures of the reliability suite (issue 11): real server processes started with
``--no-auth`` on loopback, the scale of the run, and the figures it reports.

``FHIR_RELIABILITY=long`` runs the long version (20 crash rounds, 100,000 load requests,
≥ 10,000 fuzzing requests, more property examples); the default is the short CI version.
The figures measured (rounds, requests, RSS slope, fuzzing counts) are printed at the end
of the run under "reliability figures".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import hypothesis.core
import pytest
from hypothesis.vendor import pretty
from reliability_kit import SCALE, Scale, ServerFactory, ServerProcess

# schemathesis's pytest plugin (loaded by its entry point) swaps Hypothesis's printer for one that
# prints nothing, which blanks every failing example; the property tests here need it back.
hypothesis.core.RepresentationPrinter = pretty.RepresentationPrinter  # type: ignore[misc]
_FIGURES: list[str] = []


@pytest.fixture(scope="session")
def scale() -> Scale:
    return SCALE


@pytest.fixture(scope="session")
def figures() -> list[str]:
    """Lines for the end-of-run summary: what was measured, in numbers."""
    return _FIGURES


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.write_sep("-", f"reliability figures ({SCALE.name} version)")
        for line in _FIGURES:
            terminalreporter.write_line(line)


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[ServerFactory]:
    """Starts servers (``--no-auth``) for one test; all are stopped afterwards."""
    (tmp_path / "logs").mkdir()
    factory = ServerFactory(tmp_path / "logs")
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One server with the demo data for a whole module (the fuzzing and hostile-input tests)."""
    folder = tmp_path_factory.mktemp("demo")
    (folder / "logs").mkdir()
    factory = ServerFactory(folder / "logs")
    try:
        yield factory(folder / "data", args=["--demo"])
    finally:
        factory.stop_all()
