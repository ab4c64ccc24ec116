"""The built-in authorization server's signing key."""

from __future__ import annotations

from pathlib import Path

from joserfc.jwk import RSAKey

from fhir_server.security.private_files import create_private_json, read_json

SIGNING_KEY_FILE = "signing-key.json"
ALGORITHM = "RS256"


class SigningKeys:
    """The built-in authorization server's signing key (RS256 RSA 2048, kid = RFC 7638 thumbprint),
    kept as a private JWK in <auth_dir>/signing-key.json (file mode 0600), created on first use."""

    def __init__(self, key: RSAKey) -> None:
        self._key = key

    @classmethod
    def load_or_create(cls, folder: Path) -> SigningKeys:
        path = folder / SIGNING_KEY_FILE
        stored = read_json(path)
        if stored is None:
            create_private_json(path, new_rsa_jwk(ALGORITHM))
            stored = read_json(path)
        return cls(RSAKey.import_key(stored))

    @property
    def kid(self) -> str:
        return self._key.kid or self._key.thumbprint()

    def private_key(self) -> RSAKey:
        return self._key

    def public_jwks(self) -> dict:
        """The JWK Set published at /auth/jwks (RFC 7517 section 5)."""
        public = self._key.as_dict(private=False)
        return {"keys": [{**public, "kid": self.kid, "alg": ALGORITHM, "use": "sig"}]}


def new_rsa_jwk(algorithm: str) -> dict:
    """A fresh private RSA 2048 signing JWK for ``algorithm`` whose kid is its RFC 7638 thumbprint."""
    key = RSAKey.generate_key(2048, parameters={"alg": algorithm, "use": "sig"}, private=True, auto_kid=True)
    return key.as_dict(private=True)
