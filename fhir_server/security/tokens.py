"""Verifying bearer access tokens: RFC 9068 JWTs checked with Authlib against the issuer's
JWKS — signature (never ``alg: none``), issuer, audience, expiry, and the required claims
(https://www.rfc-editor.org/rfc/rfc9068#section-4)."""

from __future__ import annotations

import json
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from authlib.oauth2.rfc6750.errors import InvalidTokenError
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from joserfc.jwk import KeySet

from fhir_server.config import Settings
from fhir_server.errors import FhirError
from fhir_server.security.keys import SigningKeys


class Unauthorized(FhirError):
    """401 with the RFC 6750 ``WWW-Authenticate`` challenge."""

    status = 401
    issue_code = "login"

    def __init__(self, message: str, error: str | None = "invalid_token"):
        super().__init__(message)
        challenge = 'Bearer realm="fhir"'
        if error:
            challenge += f', error="{error}", error_description="{message}"'
        self.headers = {"WWW-Authenticate": challenge}


class _Validator(JWTBearerTokenValidator):
    def __init__(self, issuer: str, audience: str, jwks: dict[str, Any]):
        super().__init__(issuer, audience)
        self._jwks = KeySet.import_key_set(jwks)  # type: ignore[arg-type]

    def get_jwks(self) -> KeySet:
        return self._jwks


CACHED_TOKENS = 4096
"""Verified tokens remembered (least recently used first out): a client sends the same token on
every request until it expires, and checking its signature again costs ~100 µs."""


class _VerifiedTokens:
    """Claims of tokens that passed every check; a hit is served only until the token's ``exp``."""

    def __init__(self, size: int = CACHED_TOKENS):
        self._size = size
        self._claims: OrderedDict[str, Mapping[str, Any]] = OrderedDict()

    def get(self, token: str) -> Mapping[str, Any] | None:
        claims = self._claims.get(token)
        if claims is None:
            return None
        if claims["exp"] <= time.time():
            del self._claims[token]
            return None
        self._claims.move_to_end(token)
        return claims

    def put(self, token: str, claims: Mapping[str, Any]) -> None:
        self._claims[token] = claims
        if len(self._claims) > self._size:
            self._claims.popitem(last=False)


class TokenVerifier:
    def __init__(self, issuer: str, audience: str, jwks: dict[str, Any]):
        self._validator = _Validator(issuer, audience, jwks)
        self._verified = _VerifiedTokens()

    @classmethod
    def from_settings(cls, settings: Settings) -> TokenVerifier:
        """The external issuer's JWKS file, or the built-in authorization server's keys."""
        if settings.auth_jwks_file is not None:
            jwks = json.loads(settings.auth_jwks_file.read_text(encoding="utf-8"))
        else:
            jwks = SigningKeys.load_or_create(settings.auth_dir).public_jwks()
        return cls(settings.token_issuer(), settings.token_audience(), jwks)

    def verify(self, headers: Mapping[str, str]) -> Mapping[str, Any]:
        """The token's claims; 401 when it is missing, malformed, forged, expired or not for us."""
        authorization = headers.get("authorization")
        if not authorization:
            raise Unauthorized("This server requires a bearer access token (SMART on FHIR)", error=None)
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("The Authorization header must read 'Bearer <access token>'", error="invalid_request")
        token = token.strip()
        if (claims := self._verified.get(token)) is not None:
            return claims
        try:
            claims = self._validator.authenticate_token(token)
            self._validator.validate_token(claims, None, None)
        except InvalidTokenError:
            raise Unauthorized(
                "The access token is invalid: bad signature, issuer or audience, expired, or missing claims"
            ) from None
        except Exception:  # noqa: BLE001 - any malformed token is just an invalid token
            raise Unauthorized("The access token cannot be read") from None
        self._verified.put(token, claims)
        return claims
