"""One JSON line per request on stderr: a plain ASGI middleware, cheap on the hot path."""

from __future__ import annotations

import re
import sys
import time
import uuid
from typing import Any

import orjson

Scope = dict[str, Any]


_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def _incoming_request_id(scope: Scope) -> str | None:
    """A caller's X-Request-ID, kept when it is a plain token (so logs can be joined up)."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _REQUEST_ID.match(text) else None
    return None


class RequestLogMiddleware:
    def __init__(self, app: Any, stream: Any = None):
        self.app = app
        self.stream = stream or sys.stderr

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _incoming_request_id(scope) or str(uuid.uuid4())
        status = 500

        async def send_with_status(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", []).append((b"x-request-id", request_id.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            record = {
                "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "request_id": request_id,
                "method": scope["method"],
                "path": scope["path"],
                # parameter names only: values may identify a patient
                "params": sorted(
                    {kv.split("=")[0] for kv in scope.get("query_string", b"").decode("latin-1").split("&") if kv}
                ),
                "status": status,
                "duration_ms": round((time.perf_counter() - started) * 1000, 3),
                "client": (scope.get("client") or ("", 0))[0],
            }
            self.stream.write(orjson.dumps(record).decode() + "\n")
            self.stream.flush()
