"""The HTTP routes of the built-in authorization server and of SMART discovery.

``/auth/authorize`` (GET: login form, POST: login → redirect with the code), ``/auth/token``,
``/auth/introspect``, ``/auth/jwks``, and ``/.well-known/smart-configuration``.
"""

from __future__ import annotations

from authlib.oauth2.rfc6749 import InvalidRequestError, OAuth2Error
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from fhir_server.config import Settings
from fhir_server.security.authorization_server import BuiltInAuthorizationServer
from fhir_server.security.clients import Client, ClientRegistry
from fhir_server.security.demo_accounts import seed_demo_accounts
from fhir_server.security.keys import SigningKeys
from fhir_server.security.login_page import error_page, login_page
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


def auth_routes(settings: Settings) -> list[BaseRoute]:
    """``/.well-known/smart-configuration``, and the built-in server's ``/auth/...`` routes unless an
    external issuer is configured. With ``settings.demo`` the demo accounts are seeded first."""
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
        users = self.server.users
        user = await run_in_threadpool(users.authenticate, form.first("username"), form.first("password"))
        if user is None:
            return self._login_page(call, grant.request.client, grant.request.scope, "Wrong username or password.")
        grant.request.user = user
        return self.server.create_authorization_response(grant.request, user, grant)

    async def token(self, request: Request) -> Response:
        try:
            call = await self._read_once(request, "/token")
        except OAuth2Error as error:
            response = self.server.handle_error_response(None, error)
        else:
            response = self.server.create_token_response(call)
        response.headers.update(CORS)
        return response

    async def introspect(self, request: Request) -> Response:
        """RFC 7662; a token that is not one of ours, or cannot be read, is ``{"active": false}``."""
        try:
            call = await self._read_once(request, "/introspect")
        except OAuth2Error as error:
            return self.server.handle_error_response(None, error)
        response = self.server.create_endpoint_response("introspection", call)
        return response or JSONResponse({"active": False}, headers={"Cache-Control": "no-store"})

    async def jwks(self, request: Request) -> Response:
        return JSONResponse(self._jwks, headers={**CORS, "Cache-Control": "public, max-age=300"})

    async def _read_once(self, request: Request, path: str) -> HttpCall:
        call = await read_call(request, self.server.endpoint(path))
        if call.repeated():
            raise InvalidRequestError("A parameter is repeated.")
        return call

    def _login_page(self, call: HttpCall, client: Client, scope: str, error: str = "") -> Response:
        carried = list(call.only(AUTHORIZATION_PARAMETERS).params)
        name = client.client_name or client.client_id
        return login_page(self.server.endpoint("/authorize"), carried, name, scope, error)

    def _authorization_error(self, error: OAuth2Error) -> Response:
        """Back to the app when its redirect URI was checked (RFC 6749 section 4.1.2.1), else a page."""
        if error.redirect_uri:
            return self.server.handle_error_response(None, error)
        return error_page(error.status_code, error.error, error.get_error_description() or "")
