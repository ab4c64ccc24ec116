"""The HTTP routes of the built-in authorization server and of SMART discovery.

``/auth/authorize`` (GET: login form, POST: login → redirect with the code), ``/auth/token``,
``/auth/introspect``, ``/auth/jwks``, and ``/.well-known/smart-configuration``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from fhir_server.config import Settings
from fhir_server.security.authorization_server import CLIENT_ATTEMPT, BuiltInAuthorizationServer
from fhir_server.security.client_assertion import claimed_client_id
from fhir_server.security.clients import Client, ClientRegistry
from fhir_server.security.demo_accounts import seed_demo_accounts
from fhir_server.security.keys import SigningKeys
from fhir_server.security.login_page import error_page, login_page
from fhir_server.security.login_throttle import LockedOut, LoginThrottle
from fhir_server.security.oauth_requests import HttpCall, read_call
from fhir_server.security.single_use import SingleUseStore
from fhir_server.security.smart_configuration import smart_configuration
from fhir_server.security.users import UserDirectory

AUTHORIZATION_PARAMETERS = frozenset(
    {"response_type", "client_id", "redirect_uri", "scope", "state", "aud", "code_challenge", "code_challenge_method"}
)
"""What the login form carries over from the authorization request (SMART App Launch v2)."""
CORS = {"Access-Control-Allow-Origin": "*"}
"""Browser apps read discovery, keys and tokens from another origin; nothing here rides on cookies."""


def auth_routes(settings: Settings, *, clock: Callable[[], float] = time.monotonic) -> list[BaseRoute]:
    """``/.well-known/smart-configuration``, and the built-in server's ``/auth/...`` routes unless an
    external issuer is configured. With ``settings.demo`` the demo accounts are seeded first.
    ``clock`` times the login lockouts (tests pass their own)."""
    configuration = smart_configuration(settings)

    async def discovery(request: Request) -> Response:
        return JSONResponse(configuration, headers=CORS)

    routes: list[BaseRoute] = [Route("/.well-known/smart-configuration", discovery, methods=["GET"])]
    if settings.auth_issuer is not None:
        return routes
    if settings.demo:
        seed_demo_accounts(settings.auth_dir)
    server = BuiltInAuthorizationServer(
        keys=SigningKeys.load_or_create(settings.auth_dir),
        clients=ClientRegistry(settings.auth_dir),
        users=UserDirectory(settings.auth_dir),
        issuer=settings.token_issuer(),
        audience=settings.token_audience(),
        token_lifetime=settings.auth_token_lifetime,
        single_use=SingleUseStore(settings.auth_dir),
        throttle=LoginThrottle(
            max_failures=settings.auth_login_max_failures,
            address_max_failures=settings.auth_login_address_max_failures,
            window_seconds=settings.auth_login_failure_window_seconds,
            lockout_seconds=settings.auth_login_lockout_seconds,
            clock=clock,
        ),
    )
    endpoints = AuthEndpoints(server)
    return routes + [
        Route("/auth/authorize", endpoints.authorize_form, methods=["GET"]),
        Route("/auth/authorize", endpoints.authorize_login, methods=["POST"]),
        Route("/auth/token", endpoints.token, methods=["POST"]),
        Route("/auth/introspect", endpoints.introspect, methods=["POST"]),
        Route("/auth/jwks", endpoints.jwks, methods=["GET"]),
    ]


class AuthEndpoints:
    def __init__(self, server: BuiltInAuthorizationServer) -> None:
        self.server = server
        self._jwks = server.keys.public_jwks()

    async def authorize_form(self, request: Request) -> Response:
        try:
            call = await read_call(request, self.server.endpoint("/authorize"))
            grant = self.server.get_consent_grant(call)
        except OAuth2Error as error:
            return self._authorization_error(error)
        return self._login_page(call, grant.request.client, grant.request.scope)

    async def authorize_login(self, request: Request) -> Response:
        """Checks the request again (the form's hidden fields), then the credentials: a wrong
        password shows the form again, a good one redirects with the code (RFC 6749 section 4.1.2)."""
        try:
            form = await read_call(request, self.server.endpoint("/authorize"))
            call = form.only(AUTHORIZATION_PARAMETERS)
            grant = self.server.get_consent_grant(call)
        except OAuth2Error as error:
            return self._authorization_error(error)
        if form.first("action") == "deny":
            return self.server.create_authorization_response(grant.request, None, grant)
        users, username = self.server.users, form.first("username")
        try:
            attempt = self.server.throttle.begin(f"user:{username}" if username else None, _address(request))
        except LockedOut as lockout:
            return self._login_page(
                call,
                grant.request.client,
                grant.request.scope,
                f"Too many failed sign-in attempts. Try again in {_duration(lockout.retry_after)}.",
                status=429,
                headers={"Retry-After": str(lockout.retry_after)},
            )
        with attempt:
            user = await run_in_threadpool(users.authenticate, username, form.first("password"))
            if user is None:
                attempt.failed()
                return self._login_page(call, grant.request.client, grant.request.scope, "Wrong username or password.")
            attempt.succeeded()
        grant.request.user = user
        return self.server.create_authorization_response(grant.request, user, grant)

    async def token(self, request: Request) -> Response:
        try:
            call = await self._read_once(request, "/token")
        except OAuth2Error as error:
            response = self.server.handle_error_response(None, error)
        else:
            response = self._throttled(request, call, lambda: self.server.create_token_response(call))
        response.headers.update(CORS)
        return response

    async def introspect(self, request: Request) -> Response:
        """RFC 7662; a token that is not one of ours, or cannot be read, is ``{"active": false}``."""
        try:
            call = await self._read_once(request, "/introspect")
        except OAuth2Error as error:
            return self.server.handle_error_response(None, error)
        response = self._throttled(request, call, lambda: self.server.create_endpoint_response("introspection", call))
        return response or JSONResponse({"active": False}, headers={"Cache-Control": "no-store"})

    def _throttled(self, request: Request, call: HttpCall, answer: Callable[[], Response | None]) -> Response | None:
        """``answer()`` unless the client (as it claims to be) or its address is locked out after too
        many failed client authentications: then 429 with ``Retry-After``. Authlib's client
        authentication reports the outcome to the attempt (``CLIENT_ATTEMPT``)."""
        client_id = claimed_client_id(call.first("client_id"), call.first("client_assertion"))
        try:
            attempt = self.server.throttle.begin(f"client:{client_id}" if client_id else None, _address(request))
        except LockedOut as lockout:
            body = {
                "error": "temporarily_unavailable",
                "error_description": "Too many failed client authentications; "
                f"try again in {_duration(lockout.retry_after)}.",
            }
            headers = {"Retry-After": str(lockout.retry_after), "Cache-Control": "no-store", "Pragma": "no-cache"}
            return JSONResponse(body, status_code=429, headers=headers)
        with attempt:
            context = CLIENT_ATTEMPT.set(attempt)
            try:
                return answer()
            finally:
                CLIENT_ATTEMPT.reset(context)

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self._jwks, headers={**CORS, "Cache-Control": "public, max-age=300"})

    async def _read_once(self, request: Request, path: str) -> HttpCall:
        call = await read_call(request, self.server.endpoint(path))
        if call.repeated():
            raise InvalidRequestError("A parameter is repeated.")
        return call

    def _login_page(
        self,
        call: HttpCall,
        client: Client,
        scope: str,
        error: str = "",
        status: int = 200,
        headers: dict[str, str] | None = None,
    ) -> Response:
        carried = list(call.only(AUTHORIZATION_PARAMETERS).params)
        name = client.client_name or client.client_id
        return login_page(self.server.endpoint("/authorize"), carried, name, scope, error, status, headers)

    def _authorization_error(self, error: OAuth2Error) -> Response:
        """Back to the app when its redirect URI was checked (RFC 6749 section 4.1.2.1), else a page."""
        if error.redirect_uri:
            return self.server.handle_error_response(None, error)
        return error_page(error.status_code, error.error, error.get_error_description() or "")


def _address(request: Request) -> str | None:
    """The caller's address as the ASGI server gives it (behind a proxy: uvicorn's ``--proxy-headers``
    with ``--forwarded-allow-ips`` makes it the X-Forwarded-For client)."""
    return request.client.host if request.client else None


def _duration(seconds: int) -> str:
    if seconds < 120:
        return f"{seconds} seconds" if seconds != 1 else "1 second"
    return f"{-(-seconds // 60)} minutes"
