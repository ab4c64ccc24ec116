"""Fixtures that run the REAL server as a subprocess and talk to it over loopback HTTP.

``server_factory(data_dir, args=[...], env={...})`` starts ``python -m fhir_server serve``,
waits (at most ``STARTUP_TIMEOUT`` s) until ``GET /metadata`` answers 200, and returns a
:class:`ServerProcess`. Every process started through the factory is stopped by the
fixture's finaliser (SIGTERM, then SIGKILL), whatever the test did.

stderr of each process goes to a file (never a pipe: a full pipe would block the server),
so tests can read the request log while the server runs or after it stopped.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

STARTUP_TIMEOUT = 15.0
REPO_ROOT = Path(__file__).resolve().parents[2]
FHIR_JSON = "application/fhir+json"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The current environment without any FHIR_SERVER_* variable, plus ``extra``; authentication
    off (FHIR_SERVER_AUTH=false) unless ``extra`` says otherwise: these suites test the process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_SERVER_")}
    env["PYTHONUNBUFFERED"] = "1"
    env["FHIR_SERVER_AUTH"] = "false"
    env.update(extra or {})
    return env


@dataclass
class ServerProcess:
    proc: subprocess.Popen
    host: str
    port: int
    data_dir: Path | None
    stderr_path: Path
    _stderr_file: object = field(repr=False, default=None)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def client(self, **kwargs) -> httpx.Client:
        kwargs.setdefault("timeout", 30.0)
        return httpx.Client(base_url=self.base_url, headers={"Accept": FHIR_JSON}, **kwargs)

    def async_client(self, **kwargs) -> httpx.AsyncClient:
        kwargs.setdefault("timeout", 60.0)
        return httpx.AsyncClient(base_url=self.base_url, headers={"Accept": FHIR_JSON}, **kwargs)

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def wait_ready(self, timeout: float = STARTUP_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        last_error: Exception | None = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"server exited with {self.proc.returncode} before answering; stderr:\n{self.stderr_text()}"
                )
            try:
                r = httpx.get(f"{self.base_url}/metadata", timeout=2.0)
                if r.status_code == 200:
                    return
                last_error = RuntimeError(f"/metadata answered {r.status_code}")
            except httpx.TransportError as exc:
                last_error = exc
            time.sleep(0.05)
        raise TimeoutError(f"server not ready after {timeout}s ({last_error!r}); stderr:\n{self.stderr_text()}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown hook, no flush, no close — as in a crash or OOM kill."""
        if self.alive():
            os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)
        self._close_log()

    def stop(self) -> None:
        """Graceful stop (SIGTERM, as systemd or Ctrl-C would), SIGKILL if it hangs."""
        if self.alive():
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._close_log()

    def _close_log(self) -> None:
        if self._stderr_file is not None:
            self._stderr_file.close()  # type: ignore[attr-defined]
            self._stderr_file = None


class ServerFactory:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.started: list[ServerProcess] = []

    def __call__(
        self,
        data_dir: Path | None,
        *,
        args: list[str] | None = None,
        env: dict[str, str] | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        use_flags: bool = True,
        wait: bool = True,
    ) -> ServerProcess:
        """Start a server. With ``use_flags`` the host/port/data dir are passed as flags,
        otherwise the caller must provide them in ``env`` (FHIR_SERVER_*)."""
        port = port or free_port(host)
        cmd = [sys.executable, "-m", "fhir_server", "serve"]
        if use_flags:
            cmd += ["--host", host, "--port", str(port)]
            if data_dir is not None:
                cmd += ["--data-dir", str(data_dir)]
        cmd += args or []
        stderr_path = self.log_dir / f"server-{len(self.started)}-{port}.stderr"
        stderr_file = open(stderr_path, "wb")  # noqa: SIM115 - closed by ServerProcess
        proc = subprocess.Popen(
            cmd,
            cwd=self.log_dir,  # never the repository: a relative default data dir stays in tmp
            env=clean_env(env),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
        )
        server = ServerProcess(proc, host, port, data_dir, stderr_path, stderr_file)
        self.started.append(server)
        if wait:
            server.wait_ready()
        return server

    def stop_all(self) -> None:
        for server in self.started:
            try:
                server.stop()
            except Exception:  # noqa: BLE001 - keep stopping the others
                if server.alive():
                    server.proc.kill()


@pytest.fixture
def server_factory(tmp_path: Path) -> Iterator[ServerFactory]:
    log_dir = tmp_path / "logs"
    log_dir.mkdir()
    factory = ServerFactory(log_dir)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def server(server_factory: ServerFactory, data_dir: Path) -> ServerProcess:
    """A server with default settings on a fresh data dir."""
    return server_factory(data_dir)


@pytest.fixture
def get_free_port():
    """The ``free_port(host)`` helper, as a fixture (test modules do not import conftest)."""
    return free_port
