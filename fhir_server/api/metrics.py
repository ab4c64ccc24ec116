"""Prometheus metrics at ``/metrics``: requests by method, resource type and status, latency
histograms, and server-side errors (5xx, which include the store being unavailable)."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response


class Metrics:
    def __init__(self, resource_types: frozenset[str]):
        self.registry = CollectorRegistry()
        self._types = resource_types
        self.requests = Counter(
            "fhir_requests", "HTTP requests answered", ["method", "resource_type", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "fhir_request_seconds",
            "Time to answer a request",
            ["method", "resource_type"],
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=self.registry,
        )
        self.server_errors = Counter(
            "fhir_server_errors",
            "Answers with a 5xx status (store unavailable included)",
            ["status"],
            registry=self.registry,
        )

    def resource_type(self, path: str) -> str:
        first = path.lstrip("/").split("/", 1)[0]
        if first in self._types:
            return first
        return "system" if first in ("", "metadata", "_history") or first.startswith("$") else "other"

    async def endpoint(self, request: Request) -> Response:
        return Response(generate_latest(self.registry), media_type=CONTENT_TYPE_LATEST)


class MetricsMiddleware:
    """Counts and times every HTTP request (plain ASGI, cheap on the hot path)."""

    def __init__(self, app: Any, metrics: Metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            metrics = self.metrics
            kind = metrics.resource_type(scope["path"])
            metrics.requests.labels(scope["method"], kind, str(status)).inc()
            metrics.latency.labels(scope["method"], kind).observe(time.perf_counter() - started)
            if status >= 500:
                metrics.server_errors.labels(str(status)).inc()
