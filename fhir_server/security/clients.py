"""OAuth clients of the built-in authorization server: <auth_dir>/clients.json.

Format: ``{"clients": [<client>]}``, each client in RFC 7591 client metadata terms: ``client_id``,
``client_name``, ``token_endpoint_auth_method`` ("none" for a public app, "private_key_jwt" for a
confidential one), ``grant_types``, ``response_types``, ``redirect_uris`` (exact matches), ``scope``
(what it may be granted), ``jwks`` (a private_key_jwt client's public keys), and our
``loopback_redirect_uris``: when true, any ``http://127.0.0.1``, ``http://[::1]`` or
``http://localhost`` URI, with any port and path, is also accepted (RFC 8252 section 7.3, widened
to any path for development apps).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin

from fhir_server.security.private_files import read_json, update_private_json
from fhir_server.security.scopes import granted_scope

CLIENTS_FILE = "clients.json"
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "localhost"})


@dataclass(frozen=True)
class Client(ClientMixin):
    client_id: str
    token_endpoint_auth_method: str
    grant_types: tuple[str, ...]
    scope: str
    client_name: str = ""
    response_types: tuple[str, ...] = ()
    redirect_uris: tuple[str, ...] = ()
    loopback_redirect_uris: bool = False
    jwks: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> Client:
        return cls(
            client_id=metadata["client_id"],
            token_endpoint_auth_method=metadata["token_endpoint_auth_method"],
            grant_types=tuple(metadata.get("grant_types", ())),
            scope=metadata.get("scope", ""),
            client_name=metadata.get("client_name", ""),
            response_types=tuple(metadata.get("response_types", ())),
            redirect_uris=tuple(metadata.get("redirect_uris", ())),
            loopback_redirect_uris=bool(metadata.get("loopback_redirect_uris", False)),
            jwks=metadata.get("jwks", {}),
        )

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        """The registered URI when it is the only one (RFC 6749 section 3.1.2.3)."""
        if len(self.redirect_uris) == 1 and not self.loopback_redirect_uris:
            return self.redirect_uris[0]
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes narrowed to this client's; None (invalid_scope) when nothing is left."""
        return granted_scope(scope, self.scope) or None

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris or (self.loopback_redirect_uris and is_loopback_uri(redirect_uri))

    def check_client_secret(self, client_secret: str) -> bool:
        """No client has a shared secret: public clients use PKCE, confidential ones private_key_jwt."""
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.token_endpoint_auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type in self.response_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.grant_types


def is_loopback_uri(uri: str) -> bool:
    """``http`` to a loopback host, any port and path, no user info and no fragment."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return False
    return (
        parts.scheme == "http"
        and parts.hostname in LOOPBACK_HOSTS
        and parts.username is None
        and not parts.fragment
        and "\\" not in uri
    )


class ClientRegistry:
    """The clients file, read on each look-up so a change applies to a running server."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / CLIENTS_FILE

    def get(self, client_id: str) -> Client | None:
        document = read_json(self.path) or {}
        for metadata in document.get("clients", []):
            if metadata["client_id"] == client_id:
                return Client.from_metadata(metadata)
        return None

    def add_missing(self, metadata: dict[str, Any]) -> None:
        """Register a client unless its client_id is already taken (then the file wins)."""

        def append(document: Any | None) -> dict:
            clients = (document or {}).get("clients", [])
            if any(existing["client_id"] == metadata["client_id"] for existing in clients):
                return document
            return {"clients": clients + [metadata]}

        if self.get(metadata["client_id"]) is None:
            update_private_json(self.path, append)
