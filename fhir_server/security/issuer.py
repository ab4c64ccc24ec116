"""JWT access tokens of the built-in authorization server (RFC 9068, SMART App Launch v2 context)."""

from __future__ import annotations

import secrets
import time

from joserfc import jwt

from fhir_server.security.keys import ALGORITHM, SigningKeys


def mint_access_token(
    keys: SigningKeys,
    *,
    issuer: str,
    audience: str,
    subject: str,
    client_id: str,
    scope: str,
    lifetime: int,
    patient: str | None = None,
    fhir_user: str | None = None,
    extra_claims: dict | None = None,
    now: int | None = None,
) -> str:
    """An RFC 9068 JWT access token (header typ "at+jwt", alg RS256, kid): claims iss, sub, aud, exp,
    iat, jti (random), client_id, scope; SMART launch context claims `patient` (a Patient id) and
    `fhirUser` (a relative reference such as "Practitioner/abc", "Patient/x" or "RelatedPerson/y")
    when given; extra_claims merged last (tests use it to forge bad tokens).

    https://www.rfc-editor.org/rfc/rfc9068#section-2.2 and
    https://hl7.org/fhir/smart-app-launch/STU2/scopes-and-launch-context.html
    """
    issued_at = int(time.time()) if now is None else now
    claims: dict = {
        "iss": issuer,
        "sub": subject,
        "aud": audience,
        "exp": issued_at + lifetime,
        "iat": issued_at,
        "jti": secrets.token_urlsafe(16),
        "client_id": client_id,
        "scope": scope,
    }
    if patient is not None:
        claims["patient"] = patient
    if fhir_user is not None:
        claims["fhirUser"] = fhir_user
    claims.update(extra_claims or {})
    header = {"alg": ALGORITHM, "typ": "at+jwt", "kid": keys.kid}
    return jwt.encode(header, claims, keys.private_key())
