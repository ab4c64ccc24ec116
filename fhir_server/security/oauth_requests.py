"""Starlette requests as Authlib sees them. Authlib has no Starlette integration and its server code is
synchronous, so each request is read first (``read_call``) and handed over as an ``HttpCall``."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from authlib.oauth2.rfc6749 import InsecureTransportError, InvalidRequestError, OAuth2Payload, OAuth2Request
from starlette.requests import Request
from starlette.responses import Response

MAX_FORM_BYTES = 64 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class HttpCall:
    method: str
    url: str
    """The public URL of the endpoint (settings' base URL), which Authlib checks is https or loopback."""
    headers: Mapping[str, str]
    params: tuple[tuple[str, str], ...]
    """The query for GET, the form body for POST."""

    def first(self, name: str) -> str:
        return next((value for key, value in self.params if key == name), "")

    def only(self, names: frozenset[str]) -> HttpCall:
        return HttpCall(self.method, self.url, self.headers, tuple(p for p in self.params if p[0] in names))

    def repeated(self) -> bool:
        """RFC 6749 section 3.2: request parameters MUST NOT be included more than once."""
        return len({key for key, _ in self.params}) != len(self.params)


async def read_call(request: Request, url: str) -> HttpCall:
    """GET: the query parameters; POST: an ``application/x-www-form-urlencoded`` body of at most 64 KiB
    (RFC 6749 section 3.2), else InvalidRequestError. InsecureTransportError unless ``url`` is https or
    loopback http (RFC 6749 section 3.1)."""
    InsecureTransportError.check(url)
    if request.method != "POST":
        return HttpCall(request.method, url, request.headers, tuple(request.query_params.multi_items()))
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != FORM_TYPE:
        raise InvalidRequestError(f"The request body must be {FORM_TYPE}.")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise InvalidRequestError("The request body is too large.")
    try:
        params = parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidRequestError("The request body is not a valid form.") from exc
    return HttpCall(request.method, url, request.headers, tuple(params))


class CallPayload(OAuth2Payload):
    def __init__(self, params: tuple[tuple[str, str], ...]) -> None:
        self._datalist: defaultdict[str, list[str]] = defaultdict(list)
        for key, value in params:
            self._datalist[key].append(value)
        self._data = {key: values[0] for key, values in self._datalist.items()}

    @property
    def data(self) -> dict[str, str]:
        return self._data

    @property
    def datalist(self) -> defaultdict[str, list[str]]:
        return self._datalist


class CallRequest(OAuth2Request):
    def __init__(self, call: HttpCall) -> None:
        super().__init__(call.method, call.url, headers=call.headers)
        self.payload = CallPayload(call.params)

    @property
    def args(self) -> dict[str, str]:
        return self.payload.data if self.method == "GET" else {}

    @property
    def form(self) -> dict[str, str]:
        return self.payload.data if self.method == "POST" else {}


def to_response(status: int, body: dict | str, headers: list[tuple[str, str]]) -> Response:
    """Authlib's (status, body, headers) as a Starlette response."""
    content = json.dumps(body) if isinstance(body, dict) else body
    return Response(content, status_code=status, headers=dict(headers))
