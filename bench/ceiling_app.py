"""The ceiling of our stack (issue 9, point 4): a bare ASGI app under the same server (uvicorn,
one worker) answering every GET with the same bytes and headers as a FHIR read, no FastAPI,
no store. Our read throughput is reported as a ratio of this one's.

    CEILING_BODY_FILE=patient.json python -m uvicorn bench.ceiling_app:app --port 8099
"""

from __future__ import annotations

import os
from pathlib import Path

BODY = Path(os.environ.get("CEILING_BODY_FILE", "/dev/null")).read_bytes() or b"{}"
HEADERS = [
    (b"content-type", b"application/fhir+json; charset=utf-8"),
    (b"content-length", str(len(BODY)).encode()),
    (b"etag", b'W/"1"'),
    (b"last-modified", b"Mon, 23 Nov 2026 06:00:00 GMT"),
]


async def app(scope, receive, send):  # noqa: ANN001, ANN201 - the ASGI signature
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
