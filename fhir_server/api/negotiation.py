"""Content negotiation: JSON in, JSON out (https://hl7.org/fhir/R4/http.html#mime-type).

We serve application/fhir+json and application/json; a request for any other format
(``_format`` or ``Accept``) gets 406, a body in any other format 415.
"""

from __future__ import annotations

from typing import Any

import orjson

from fhir_server.errors import BadRequest, NotAcceptable, UnsupportedMediaType

FHIR_JSON = "application/fhir+json"
JSON_PATCH = "application/json-patch+json"
_JSON_FORMATS = frozenset({"json", FHIR_JSON, "application/json", "application/json+fhir"})
_ACCEPTABLE = _JSON_FORMATS | {"*/*", "application/*"}


def _media_types(header: str) -> list[str]:
    """Media types of an Accept header, without parameters, dropping those with q=0."""
    types = []
    for part in header.split(","):
        pieces = [p.strip() for p in part.split(";")]
        if any(p.replace(" ", "") in ("q=0", "q=0.0", "q=0.00", "q=0.000") for p in pieces[1:]):
            continue
        if pieces[0]:
            types.append(pieces[0].lower())
    return types


def check_acceptable(format_param: str | None, accept: str | None) -> None:
    """``_format`` wins over Accept; raise 406 unless JSON is acceptable."""
    if format_param is not None:
        # an unencoded "+" in a query string arrives as a space: application/fhir json
        if format_param.split(";")[0].strip().lower().replace(" ", "+") not in _JSON_FORMATS:
            raise NotAcceptable(f"_format '{format_param}' is not served: this server speaks {FHIR_JSON}")
        return
    if accept:
        types = _media_types(accept)
        if types and not any(t in _ACCEPTABLE for t in types):
            raise NotAcceptable(f"None of the accepted formats ({accept}) is served: this server speaks {FHIR_JSON}")


def parse_body(content_type: str | None, raw: bytes, *, patch: bool = False) -> Any:
    """The request body as JSON; 415 for other formats, 400 for malformed JSON."""
    media = (content_type or "").split(";")[0].strip().lower()
    allowed = {JSON_PATCH} if patch else _JSON_FORMATS
    if media and media not in allowed and not (patch and media in _JSON_FORMATS):
        raise UnsupportedMediaType(f"Content-Type '{media}' is not supported here; use {' or '.join(sorted(allowed))}")
    if not raw.strip():
        raise BadRequest("The request has no body")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}") from None
