"""Authorization codes of the built-in server: short-lived, single use (RFC 6749 section 4.1.2),
shared by the worker processes through :class:`SingleUseStore`."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin

from fhir_server.security.single_use import SingleUseStore

CODE_LIFETIME = 120
"""Seconds; RFC 6749 section 4.1.2 recommends at most ten minutes."""


@dataclass(frozen=True)
class AuthorizationCode(AuthorizationCodeMixin):
    code: str
    client_id: str
    redirect_uri: str | None
    """As sent in the authorization request (None when the client's only URI was used): RFC 6749
    section 4.1.3 requires the token request to repeat it."""
    scope: str
    username: str
    code_challenge: str
    code_challenge_method: str
    expires_at: float

    def get_redirect_uri(self) -> str | None:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


class AuthorizationCodes:
    def __init__(self, store: SingleUseStore) -> None:
        self._store = store

    def issue(self, code: AuthorizationCode) -> None:
        self._store.put("code", code.code, json.dumps(asdict(code)), code.expires_at)

    def consume(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The code if it is live and was issued to ``client_id``; it is gone afterwards either way,
        so a second use fails even when the first exchange did (e.g. a wrong code_verifier)."""
        value = self._store.take("code", code)
        found = AuthorizationCode(**json.loads(value)) if value is not None else None
        if found is None or found.client_id != client_id or found.expires_at <= time.time():
            return None
        return found
