"""Token introspection (RFC 7662) of the built-in server's JWT access tokens, for confidential clients.

https://hl7.org/fhir/smart-app-launch/STU2/token-introspection.html
"""

from __future__ import annotations

from authlib.oauth2.rfc9068 import JWTIntrospectionEndpoint
from joserfc.jwk import KeySet

from fhir_server.security.clients import Client
from fhir_server.security.keys import SigningKeys


class Introspection(JWTIntrospectionEndpoint):
    CLIENT_AUTH_METHODS = ["private_key_jwt"]

    def __init__(self, keys: SigningKeys, issuer: str) -> None:
        super().__init__(issuer=issuer)
        self._jwks = KeySet.import_key_set(keys.public_jwks())

    def get_jwks(self) -> KeySet:
        return self._jwks

    def check_permission(self, token: dict, client: Client, request: object) -> bool:
        """Any registered confidential client may introspect any token: they are the back-end systems
        (resource servers, the CNS) RFC 7662 section 2.1 has in mind; public apps cannot authenticate here."""
        return not client.is_public

    def create_introspection_payload(self, token: dict | None) -> dict:
        """RFC 7662 section 2.2, with the SMART context claims ``patient`` and ``fhirUser`` when present."""
        payload = super().create_introspection_payload(token)
        if payload["active"]:
            payload.update({claim: token[claim] for claim in ("patient", "fhirUser") if claim in token})
        return payload
