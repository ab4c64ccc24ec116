"""Demo accounts for the demo data set: a user per Patient, Practitioner and RelatedPerson of
fhir_server/demo/luxembourg-demo.json (username = resource id, password "demo"), the public app
``demo-app`` and the CNS's confidential system client ``cns``, whose private key is written to
<auth_dir>/cns-client-key.json for the demo and tests to sign assertions with. Idempotent: what
already exists is kept as it is."""

from __future__ import annotations

from pathlib import Path

from joserfc.jwk import RSAKey

from fhir_server.demo.loader import demo_bundle
from fhir_server.security.clients import ClientRegistry
from fhir_server.security.keys import new_rsa_jwk
from fhir_server.security.private_files import create_private_json, read_json
from fhir_server.security.users import NewUser, UserDirectory

DEMO_PASSWORD = "demo"
CNS_CLIENT_ID = "cns"
CNS_KEY_FILE = "cns-client-key.json"
CNS_KEY_ALGORITHM = "RS384"
"""The algorithm SMART Backend Services' examples use; the server also takes ES384, RS256 and ES256."""
DEMO_APP = {
    "client_id": "demo-app",
    "client_name": "Demo app",
    "token_endpoint_auth_method": "none",
    "grant_types": ["authorization_code"],
    "response_types": ["code"],
    "redirect_uris": [],
    "loopback_redirect_uris": True,
    "scope": "launch/patient patient/*.cruds user/*.cruds",
}
_USER_TYPES = ("Patient", "Practitioner", "RelatedPerson")


def seed_demo_accounts(auth_dir: Path) -> None:
    UserDirectory(auth_dir).add_missing(demo_users())
    clients = ClientRegistry(auth_dir)
    clients.add_missing(DEMO_APP)
    clients.add_missing(
        {
            "client_id": CNS_CLIENT_ID,
            "client_name": "CNS (Caisse nationale de santé)",
            "token_endpoint_auth_method": "private_key_jwt",
            "grant_types": ["client_credentials"],
            "scope": "system/*.cruds",
            "jwks": {"keys": [cns_public_jwk(auth_dir)]},
        }
    )


def demo_users() -> list[NewUser]:
    users = []
    for entry in demo_bundle()["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] in _USER_TYPES:
            patient = resource.get("patient", {}).get("reference", "").removeprefix("Patient/") or None
            fhir_user = f"{resource['resourceType']}/{resource['id']}"
            users.append(NewUser(resource["id"], fhir_user, DEMO_PASSWORD, patient))
    return users


def cns_public_jwk(auth_dir: Path) -> dict:
    """The public half of <auth_dir>/cns-client-key.json, created on first use (mode 0600)."""
    path = auth_dir / CNS_KEY_FILE
    if read_json(path) is None:
        create_private_json(path, new_rsa_jwk(CNS_KEY_ALGORITHM))
    key = RSAKey.import_key(read_json(path))
    return {**key.as_dict(private=False), "kid": key.kid, "alg": CNS_KEY_ALGORITHM, "use": "sig"}
