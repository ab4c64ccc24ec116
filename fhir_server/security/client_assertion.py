"""``private_key_jwt`` client authentication (RFC 7523 section 2.2), as SMART Backend Services profiles it.

https://hl7.org/fhir/smart-app-launch/STU2/client-confidential-asymmetric.html
"""

from __future__ import annotations

import base64
import binascii
import json
import time

from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from fhir_server.security.clients import Client
from fhir_server.security.single_use import SingleUseStore

ASSERTION_ALGORITHMS = ("RS384", "ES384", "RS256", "ES256")
"""SMART requires servers to accept RS384 and ES384; RS256 and ES256 are accepted too."""
MAX_ASSERTION_LIFETIME = 300
"""SMART: the assertion's ``exp`` SHALL be no more than five minutes in the future."""


class PrivateKeyJwt(JWTBearerClientAssertion):
    """Checks the client's signed assertion against the JWKS registered in clients.json; its ``aud``
    must be the token endpoint URL, and each ``jti`` is accepted once until the assertion expires
    (remembered in the auth folder, by every worker process)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, token_endpoint: str, seen: SingleUseStore) -> None:
        super().__init__(validate_jti=True, leeway=60)
        self._token_endpoint = token_endpoint
        self._seen = seen

    def get_audiences(self) -> list[str]:
        return [self._token_endpoint]

    def resolve_client_public_key(self, client: Client) -> KeySet:
        if not client.jwks.get("keys"):
            raise InvalidClientError(description="The client has no registered public key.")
        return KeySet.import_key_set(client.jwks)

    def process_assertion_claims(self, assertion: str, resolve_key: KeySet) -> dict:
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=list(ASSERTION_ALGORITHMS))
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        exp = token.claims.get("exp")
        if isinstance(exp, int | float) and exp > time.time() + MAX_ASSERTION_LIFETIME + self.leeway:
            raise InvalidClientError(description="The assertion expires more than five minutes from now.")
        self.verify_claims(token.claims)
        return token.claims

    def validate_jti(self, claims: dict, jti: str) -> bool:
        key = json.dumps([claims["iss"], str(jti)])
        return self._seen.first_use("jti", key, float(claims["exp"]) + self.leeway)


def claimed_client_id(client_id: str, assertion: str) -> str | None:
    """The client a token or introspection request says it is, before anything is checked: its
    ``client_id`` parameter, else the ``sub`` (or ``iss``) of its unverified assertion; None when
    neither can be read. For counting failed authentications only, never for trusting anyone."""
    if client_id:
        return client_id
    parts = assertion.split(".")
    if len(parts) != 3 or len(parts[1]) > 8192:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (binascii.Error, ValueError):
        return None
    if not isinstance(claims, dict):
        return None
    claimed = claims.get("sub") or claims.get("iss")
    return claimed if isinstance(claimed, str) and claimed else None
