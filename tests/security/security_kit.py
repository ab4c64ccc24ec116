"""Real access tokens for the security suites: minted with the server's own signing key (the
built-in authorization server's, in the data dir), for the actors of the demo data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from support import BASE

from fhir_server.security.issuer import mint_access_token
from fhir_server.security.keys import SigningKeys

ISSUER = f"{BASE}/auth"


class Tokens:
    """Mints access tokens for the actors of the demo data."""

    def __init__(self, data_dir: Path):
        self.keys = SigningKeys.load_or_create(data_dir / "auth")

    def mint(self, *, scope: str, client_id: str = "demo-app", subject: str = "user", **claims: Any) -> str:
        options = {k: claims.pop(k) for k in ("issuer", "audience", "lifetime", "now") if k in claims}
        return mint_access_token(
            self.keys,
            issuer=options.get("issuer", ISSUER),
            audience=options.get("audience", BASE),
            subject=subject,
            client_id=client_id,
            scope=scope,
            lifetime=options.get("lifetime", 300),
            now=options.get("now"),
            patient=claims.pop("patient", None),
            fhir_user=claims.pop("fhir_user", None),
            extra_claims=claims or None,
        )

    def patient(self, patient_id: str, scope: str = "patient/*.cruds launch/patient") -> str:
        return self.mint(scope=scope, subject=patient_id, patient=patient_id, fhir_user=f"Patient/{patient_id}")

    def related_person(self, related_id: str, patient_id: str) -> str:
        return self.mint(
            scope="patient/*.cruds", subject=related_id, patient=patient_id, fhir_user=f"RelatedPerson/{related_id}"
        )

    def practitioner(self, practitioner_id: str, scope: str = "user/*.cruds") -> str:
        return self.mint(scope=scope, subject=practitioner_id, fhir_user=f"Practitioner/{practitioner_id}")

    def system(self, client_id: str, scope: str = "system/*.cruds") -> str:
        return self.mint(scope=scope, client_id=client_id, subject=client_id)


def bearer(token: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", **extra}
