"""Authorization codes of the built-in server: in memory, short-lived, single use (RFC 6749 section 4.1.2).

They live in the server process only: a restart or a second worker process does not know them,
which costs a user one more login at worst.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin

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
    def __init__(self) -> None:
        self._codes: dict[str, AuthorizationCode] = {}

    def issue(self, code: AuthorizationCode) -> None:
        now = time.time()
        self._codes = {key: kept for key, kept in self._codes.items() if kept.expires_at > now}
        self._codes[code.code] = code

    def consume(self, code: str, client_id: str) -> AuthorizationCode | None:
        """The code if it is live and was issued to ``client_id``; it is gone afterwards either way,
        so a second use fails even when the first exchange did (e.g. a wrong code_verifier)."""
        found = self._codes.pop(code, None)
        if found is None or found.client_id != client_id or found.expires_at <= time.time():
            return None
        return found
