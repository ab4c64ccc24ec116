"""Request limits: a plain ASGI middleware in front of every endpoint but the probes.

- More requests in flight than ``max_concurrent`` → 429 at once, with ``Retry-After``.
- A request not answered within ``timeout_seconds`` is cancelled and answered 503.

Cancelling cannot leave a write half done: a store transaction rolls back on any exception,
cancellation included, and a 503 means "not written": a store runs a COMMIT it has started to
its end and, once it has succeeded, returns normally rather than raise the cancellation (the
answer then goes out as usual). A cancellation a library swallows on its way (PyMongo on Python
3.11) is raised again at the next store call and before any COMMIT (:mod:`fhir_server.store.cancellation`),
and Bundles stop at a checkpoint between entries, which also lets the limit fire inside a SQLite
transaction. A long synchronous step (one big SQLite query on the event loop) is not
interrupted: the 503 follows at its next await. Once the answer has started, the request is no
longer cancelled. A batch is not atomic: entries done before the timeout stay done.
Either value 0 turns its limit off.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fhir_server.api.http import error_response
from fhir_server.errors import Issue

PROBES = frozenset({"/healthz", "/readyz", "/metrics"})
"""Never limited: orchestrators must see a busy server as alive."""


class LimitsMiddleware:
    def __init__(self, app: Any, max_concurrent: int, timeout_seconds: float, exempt: frozenset[str] = PROBES):
        self.app = app
        self.max_concurrent = max_concurrent
        self.timeout_seconds = timeout_seconds
        self.exempt = exempt
        self.in_flight = 0

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.max_concurrent and self.in_flight >= self.max_concurrent:
            issue = Issue("throttled", f"More than {self.max_concurrent} requests in flight; retry in a moment")
            response = error_response(429, [issue])
            response.headers["Retry-After"] = "1"
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self._within_time(scope, receive, send)
        finally:
            self.in_flight -= 1

    async def _within_time(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        deadline = asyncio.timeout(self.timeout_seconds or None)

        async def send_and_disarm(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start" and not deadline.expired():
                deadline.reschedule(None)  # the answer is on its way: let it finish
            await send(message)

        try:
            async with deadline:
                await self.app(scope, receive, send_and_disarm)
        except TimeoutError:
            if not deadline.expired():  # raised by the app itself, not by our deadline
                raise
            issue = Issue("timeout", f"The request took longer than {self.timeout_seconds:g} s and was cancelled")
            await error_response(503, [issue])(scope, receive, send)
