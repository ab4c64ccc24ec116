"""Liveness, readiness, request ids and --version."""

from __future__ import annotations

import subprocess
import sys

from support import make_client


def test_healthz_and_readyz(client):
    assert client.get("/healthz").json() == {"status": "ok"}
    r = client.get("/readyz")
    assert r.status_code == 200 and r.json()["store"] == "ok"


def test_readyz_is_503_when_the_store_fails(client, monkeypatch):
    async def broken(*args, **kwargs):
        raise ConnectionError("store down")

    monkeypatch.setattr(client.app.state.repository.store, "count", broken)
    r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["status"] == "unavailable"
    assert client.get("/healthz").status_code == 200


def test_request_id_is_accepted_and_echoed(tmp_path):
    with make_client(tmp_path, log_requests=True) as client:
        r = client.get("/metadata", headers={"X-Request-ID": "abc-123"})
        assert r.headers["x-request-id"] == "abc-123"
        generated = client.get("/metadata", headers={"X-Request-ID": "bad id with spaces"}).headers["x-request-id"]
        assert generated != "bad id with spaces" and len(generated) == 36


def test_version():
    out = subprocess.run([sys.executable, "-m", "fhir_server", "--version"], capture_output=True, text=True, check=True)
    assert out.stdout.startswith("fhir-server 0.1.0") and "4.0.1" in out.stdout


def test_prometheus_metrics(client):
    client.get("/Patient")
    client.get("/Patient/missing")
    text = client.get("/metrics").text
    assert 'fhir_requests_total{method="GET",resource_type="Patient",status="200"}' in text
    assert 'fhir_requests_total{method="GET",resource_type="Patient",status="404"}' in text
    assert "fhir_request_seconds_bucket" in text and "fhir_server_errors_total" in text
