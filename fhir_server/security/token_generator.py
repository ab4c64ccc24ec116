"""Token responses of the built-in authorization server: RFC 6750 bearer responses whose access token
is ``mint_access_token``'s RFC 9068 JWT, with the SMART ``patient`` launch context beside it.

Authlib's rfc9068.JWTBearerTokenGenerator is not used: it puts no ``kid`` in the header and takes the
audience from the client, where our tokens must match ``mint_access_token`` claim for claim.
"""

from __future__ import annotations

from authlib.oauth2.rfc6750 import BearerTokenGenerator

from fhir_server.security.clients import Client
from fhir_server.security.issuer import mint_access_token
from fhir_server.security.keys import SigningKeys
from fhir_server.security.users import User


class SmartTokenGenerator(BearerTokenGenerator):
    def __init__(self, keys: SigningKeys, *, issuer: str, audience: str, lifetime: int) -> None:
        super().__init__(self._access_token, expires_generator=lifetime)
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._lifetime = lifetime

    def generate(
        self,
        grant_type: str,
        client: Client,
        user: User | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict:
        """Adds ``patient`` for a patient launch (SMART App Launch v2, 'Launch context arrives with
        your access_token')."""
        token = super().generate(grant_type, client, user, scope, self._lifetime, include_refresh_token)
        if user is not None and user.patient:
            token["patient"] = user.patient
        return token

    def _access_token(self, client: Client, grant_type: str, user: User | None, scope: str) -> str:
        """``sub``: the user for a user's grant, the client itself for client_credentials (RFC 9068 section 2.2)."""
        return mint_access_token(
            self._keys,
            issuer=self._issuer,
            audience=self._audience,
            subject=user.get_user_id() if user else client.get_client_id(),
            client_id=client.get_client_id(),
            scope=scope,
            lifetime=self._lifetime,
            patient=user.patient if user else None,
            fhir_user=user.fhir_user if user else None,
        )
