"""Liveness and readiness probes for orchestrators (Kubernetes, Docker healthchecks)."""

from __future__ import annotations

import logging

import orjson
from starlette.requests import Request
from starlette.responses import Response

from fhir_server.store.base import Store

log = logging.getLogger(__name__)


async def healthz(request: Request) -> Response:
    """Liveness: the process answers."""
    return Response(orjson.dumps({"status": "ok"}), media_type="application/json")


def readiness(store: Store):  # noqa: ANN201 - a Starlette endpoint
    async def readyz(request: Request) -> Response:
        """Readiness: the store answers a read."""
        try:
            await store.count("CapabilityStatement")
        except Exception as exc:  # any store failure means: not ready
            log.warning("readiness check failed: %s", exc)
            body = {"status": "unavailable", "store": type(exc).__name__}
            return Response(orjson.dumps(body), status_code=503, media_type="application/json")
        return Response(orjson.dumps({"status": "ok", "store": "ok"}), media_type="application/json")

    return readyz
