"""``GET /.well-known/smart-configuration`` (SMART App Launch v2 discovery).

https://hl7.org/fhir/smart-app-launch/STU2/conformance.html
"""

from __future__ import annotations

from fhir_server.config import Settings
from fhir_server.security.client_assertion import ASSERTION_ALGORITHMS

PERMISSION_CAPABILITIES = ["permission-patient", "permission-user", "permission-v1", "permission-v2"]
"""How this resource server reads scopes: true whichever server issues the tokens."""


def smart_configuration(settings: Settings) -> dict:
    """The built-in authorization server's metadata; with an external issuer (``auth_issuer``) only
    what this server knows for sure: the issuer and how it reads scopes. Endpoints, grant types and
    keys are then the issuer's to publish (its own metadata under ``<issuer>/.well-known/``); a local
    ``auth_jwks_file`` is not a URL this server could offer as ``jwks_uri``. No capability implies
    OpenID Connect: the built-in server issues no id_token, so no ``sso-openid-connect``."""
    issuer = settings.token_issuer()
    if settings.auth_issuer is not None:
        return {"issuer": issuer, "capabilities": PERMISSION_CAPABILITIES}
    return {
        "issuer": issuer,
        "jwks_uri": f"{issuer}/jwks",
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "introspection_endpoint": f"{issuer}/introspect",
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": list(ASSERTION_ALGORITHMS),
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "scopes_supported": [
            "launch/patient",
            *(
                f"{context}/*.{permissions}"
                for context in ("patient", "user", "system")
                for permissions in ("cruds", "rs")
            ),
        ],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": [
            "launch-standalone",
            "client-public",
            "client-confidential-asymmetric",
            "context-standalone-patient",
            *PERMISSION_CAPABILITIES,
        ],
    }


def capability_security(settings: Settings) -> dict:
    """``CapabilityStatement.rest.security``: SMART on FHIR, with the OAuth endpoints when the
    built-in authorization server issues the tokens (https://hl7.org/fhir/smart-app-launch/conformance.html)."""
    security: dict = {
        "cors": True,
        "service": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR",
                    }
                ],
                "text": "OAuth2 using SMART-on-FHIR profile (see /.well-known/smart-configuration)",
            }
        ],
        "description": "Bearer access tokens (RFC 9068 JWT) with SMART App Launch v1/v2 scopes. Access follows the "
        "patient's consent (opt-out for the médecin référent) and every access is audited.",
    }
    if settings.auth_issuer is None:
        issuer = settings.token_issuer()
        security["extension"] = [
            {
                "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                "extension": [
                    {"url": "authorize", "valueUri": f"{issuer}/authorize"},
                    {"url": "token", "valueUri": f"{issuer}/token"},
                    {"url": "introspect", "valueUri": f"{issuer}/introspect"},
                ],
            }
        ]
    return security
