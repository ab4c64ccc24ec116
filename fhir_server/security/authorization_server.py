"""The built-in OAuth 2 authorization server (Authlib): SMART App Launch v2 standalone launch
(authorization code + PKCE S256) and SMART Backend Services (client_credentials + private_key_jwt).

https://hl7.org/fhir/smart-app-launch/STU2/app-launch.html
https://hl7.org/fhir/smart-app-launch/STU2/backend-services.html
"""

from __future__ import annotations

import time
from contextvars import ContextVar

from authlib.oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import InvalidClientError, InvalidRequestError, InvalidScopeError, OAuth2Request, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge
from starlette.responses import Response

from fhir_server.security.authorization_codes import CODE_LIFETIME, AuthorizationCode, AuthorizationCodes
from fhir_server.security.client_assertion import PrivateKeyJwt
from fhir_server.security.clients import Client, ClientRegistry
from fhir_server.security.introspection import Introspection
from fhir_server.security.keys import SigningKeys
from fhir_server.security.login_throttle import Attempt, LoginThrottle
from fhir_server.security.oauth_requests import CallRequest, HttpCall, to_response
from fhir_server.security.scopes import granted_scope, parse_scopes
from fhir_server.security.single_use import SingleUseStore
from fhir_server.security.token_generator import SmartTokenGenerator
from fhir_server.security.users import User, UserDirectory

CLIENT_ATTEMPT: ContextVar[Attempt | None] = ContextVar("CLIENT_ATTEMPT", default=None)
"""The throttled attempt of the token or introspection request being answered; its client
authentication ends it (``authenticate_client``)."""


class BuiltInAuthorizationServer(AuthorizationServer):
    def __init__(
        self,
        *,
        keys: SigningKeys,
        clients: ClientRegistry,
        users: UserDirectory,
        issuer: str,
        audience: str,
        token_lifetime: int,
        single_use: SingleUseStore,
        throttle: LoginThrottle,
    ) -> None:
        super().__init__()
        self.keys = keys
        self.throttle = throttle
        self.clients = clients
        self.users = users
        self.codes = AuthorizationCodes(single_use)
        self.issuer = issuer
        self.register_token_generator(
            "default", SmartTokenGenerator(keys, issuer=issuer, audience=audience, lifetime=token_lifetime)
        )
        assertion = PrivateKeyJwt(self.endpoint("/token"), single_use)
        self.register_client_auth_method(PrivateKeyJwt.CLIENT_AUTH_METHOD, assertion)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge(required=True), SmartLaunchRequest(audience)])
        self.register_grant(ClientCredentialsGrant)
        self.register_endpoint(Introspection(keys, issuer))

    def endpoint(self, path: str) -> str:
        """The public URL of one of the server's endpoints, e.g. ``endpoint("/token")``."""
        return f"{self.issuer}{path}"

    def query_client(self, client_id: str) -> Client | None:
        return self.clients.get(client_id)

    def authenticate_client(self, request: OAuth2Request, methods: list[str], endpoint: str = "token") -> Client:
        """Authlib's client authentication, its outcome reported to the throttled attempt (if any)."""
        attempt = CLIENT_ATTEMPT.get()
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError:
            if attempt is not None:
                attempt.failed()
            raise
        if attempt is not None:
            attempt.succeeded()
        return client

    def save_token(self, token: dict, request: OAuth2Request) -> None:
        """Nothing to keep: access tokens are self-contained JWTs and no refresh token is issued."""

    def send_signal(self, name: str, *args: object, **kwargs: object) -> None:
        """Authlib's hook for framework signals; this server listens to none."""

    def validate_requested_scope(self, scope: str | None) -> None:
        """Unknown scope strings are refused (invalid_scope); known ones are narrowed later."""
        try:
            parse_scopes(scope)
        except ValueError as exc:
            raise InvalidScopeError("The scope parameter holds an unsupported scope.") from exc

    def create_oauth2_request(self, request: HttpCall) -> OAuth2Request:
        return CallRequest(request)

    def handle_response(self, status: int, body: dict | str, headers: list[tuple[str, str]]) -> Response:
        return to_response(status, body, headers)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """Public apps (PKCE, no secret) and confidential ones (private_key_jwt) may exchange codes."""

    TOKEN_ENDPOINT_AUTH_METHODS = ["none", PrivateKeyJwt.CLIENT_AUTH_METHOD]
    server: BuiltInAuthorizationServer

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        self.server.codes.issue(
            AuthorizationCode(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.scope,
                username=request.user.get_user_id(),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                expires_at=time.time() + CODE_LIFETIME,
            )
        )

    def query_authorization_code(self, code: str, client: Client) -> AuthorizationCode | None:
        return self.server.codes.consume(code, client.get_client_id())

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        """Already gone: ``query_authorization_code`` consumed it."""

    def authenticate_user(self, authorization_code: AuthorizationCode) -> User | None:
        return self.server.users.get(authorization_code.username)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    """SMART Backend Services: confidential clients authenticated by a signed assertion only."""

    TOKEN_ENDPOINT_AUTH_METHODS = [PrivateKeyJwt.CLIENT_AUTH_METHOD]


class S256CodeChallenge(CodeChallenge):
    """PKCE (RFC 7636) as SMART App Launch v2 requires it: every authorization request carries a
    ``code_challenge`` with method S256; ``plain`` is refused."""

    DEFAULT_CODE_CHALLENGE_METHOD = "S256"
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    CODE_CHALLENGE_METHODS = {"S256": compare_s256_code_challenge}

    def validate_code_challenge(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("Missing 'code_challenge': PKCE with S256 is required.")
        if data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("The 'code_challenge_method' must be S256.")
        super().validate_code_challenge(grant, redirect_uri)


class SmartLaunchRequest:
    """The SMART checks of an authorization request: ``aud`` must be this FHIR server's base URL
    (App Launch v2, 'Obtain authorization code'), and once the user has logged in the scope narrows
    to what they may have (patient/ scopes for patients and their representatives, user/ scopes for
    practitioners)."""

    def __init__(self, audience: str) -> None:
        self._audience = audience.rstrip("/")

    def __call__(self, grant: grants.AuthorizationCodeGrant) -> None:
        grant.register_hook("after_validate_authorization_request_payload", self.validate)

    def validate(self, grant: grants.AuthorizationCodeGrant, redirect_uri: str) -> None:
        request = grant.request
        if request.payload.data.get("aud", "").rstrip("/") != self._audience:
            raise InvalidRequestError(f"The 'aud' parameter must be this FHIR server: {self._audience}")
        if request.user is not None:
            scope = granted_scope(request.scope, request.user.allowed_scope())
            if not scope:
                raise InvalidScopeError("None of the requested scopes can be granted to this user.")
            request.scope = scope
