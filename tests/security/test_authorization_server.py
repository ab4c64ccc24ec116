"""The built-in authorization server over HTTP: SMART standalone launch (authorization code + PKCE),
SMART Backend Services (client_credentials + private_key_jwt), introspection, keys and discovery.

Each test runs a Starlette app made of ``auth_routes(settings)`` on a data dir seeded with the demo
accounts, and talks to it through Starlette's TestClient like a browser and an app would.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey
from starlette.applications import Starlette
from starlette.testclient import TestClient

from fhir_server.config import Settings
from fhir_server.security.auth_routes import auth_routes
from fhir_server.security.issuer import mint_access_token
from fhir_server.security.keys import SigningKeys
from fhir_server.security.scopes import granted_scope

BASE = "http://localhost:8080"
ISSUER = f"{BASE}/auth"
TOKEN_URL = f"{ISSUER}/token"
REDIRECT = "http://127.0.0.1:5173/callback"
MARIE = "lu-patient-marie-schmit"
WEBER = "lu-practitioner-claude-weber"
ANA = "lu-relatedperson-ana-ferreira"
NOAH = "lu-patient-noah-ferreira"


@pytest.fixture(scope="module")
def seeded_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir as a first demo start leaves it (keys, demo users and clients), made once: the
    scrypt hashes of the demo users take a few tenths of a second."""
    folder = tmp_path_factory.mktemp("auth-seed")
    auth_routes(demo_settings(folder))
    return folder


@pytest.fixture
def data_dir(seeded_data_dir: Path, tmp_path: Path) -> Path:
    shutil.copytree(seeded_data_dir, tmp_path, dirs_exist_ok=True)
    return tmp_path


@pytest.fixture
def client(data_dir: Path) -> Iterator[TestClient]:
    with server(demo_settings(data_dir)) as test_client:
        yield test_client


def demo_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(**{"data_dir": data_dir, "base_url": BASE, "demo": True, "log_requests": False, **overrides})


def server(settings: Settings) -> TestClient:
    return TestClient(Starlette(routes=auth_routes(settings)), base_url=BASE, follow_redirects=False)


# --- a browser and an app -------------------------------------------------------------------------


class FormReader(HTMLParser):
    """The login page's form as a browser sees it: its action and its input fields."""

    def __init__(self) -> None:
        super().__init__()
        self.action = ""
        self.fields: dict[str, str] = {}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "form":
            self.action = attributes["action"] or ""
        elif tag == "input" and attributes.get("name"):
            self.fields[attributes["name"] or ""] = attributes.get("value") or ""


def read_form(html: str) -> FormReader:
    reader = FormReader()
    reader.feed(html)
    return reader


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, create_s256_code_challenge(verifier)


def authorization_request(challenge: str, **overrides: str) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": "demo-app",
        "redirect_uri": REDIRECT,
        "scope": "launch/patient patient/*.rs openid fhirUser",
        "state": "af0ifjsldkj",
        "aud": BASE,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    return {**params, **overrides}


def log_in(client: TestClient, params: dict[str, str], username: str, password: str = "demo", action: str = "login"):
    """GET the login form, fill it in and submit it, as a browser does; the POST's response."""
    page = client.get("/auth/authorize", params=params)
    assert page.status_code == 200, page.text
    form = read_form(page.text)
    assert form.action == f"{ISSUER}/authorize"
    fields = {**form.fields, "username": username, "password": password, "action": action}
    return client.post(urlsplit(form.action).path, data=fields)


def redirect_params(response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT + "?")
    return {key: values[0] for key, values in parse_qs(urlsplit(location).query).items()}


def authorization_code(client: TestClient, username: str, scope: str | None = None) -> tuple[str, str]:
    verifier, challenge = pkce()
    extra = {"scope": scope} if scope else {}
    answer = redirect_params(log_in(client, authorization_request(challenge, **extra), username))
    return answer["code"], verifier


def exchange(client: TestClient, code: str, verifier: str, **overrides: str):
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": "demo-app",
        "code_verifier": verifier,
    }
    return client.post("/auth/token", data={**form, **overrides})


def verified_claims(client: TestClient, access_token: str) -> tuple[dict, dict]:
    """Header and claims of a token checked against the published JWKS: signature, iss, aud, exp."""
    token = jwt.decode(access_token, KeySet.import_key_set(client.get("/auth/jwks").json()))
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER},
        aud={"essential": True, "value": BASE},
        exp={"essential": True},
    ).validate(token.claims)
    return token.header, token.claims


# --- authorization code + PKCE --------------------------------------------------------------------


def test_a_patient_logs_in_and_the_app_gets_a_patient_token(client: TestClient) -> None:
    verifier, challenge = pkce()
    params = authorization_request(challenge)
    page = client.get("/auth/authorize", params=params)
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-frame-options"] == "DENY"
    assert "Demo app" in page.text
    assert params.items() <= read_form(page.text).fields.items()

    answer = redirect_params(log_in(client, params, MARIE))
    assert answer["state"] == "af0ifjsldkj"
    response = exchange(client, answer["code"], verifier)

    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 3600
    assert body["scope"] == "launch/patient patient/*.rs"  # openid and fhirUser are not granted: no id_token
    assert body["patient"] == MARIE
    assert "refresh_token" not in body and "id_token" not in body
    header, claims = verified_claims(client, body["access_token"])
    assert header["typ"] == "at+jwt" and header["alg"] == "RS256"
    assert claims["sub"] == MARIE
    assert claims["client_id"] == "demo-app"
    assert claims["scope"] == "launch/patient patient/*.rs"
    assert claims["patient"] == MARIE
    assert claims["fhirUser"] == f"Patient/{MARIE}"
    assert claims["exp"] - claims["iat"] == 3600


def test_a_practitioner_gets_user_scopes_and_no_patient_context(client: TestClient) -> None:
    code, verifier = authorization_code(client, WEBER, scope="user/*.rs patient/*.rs launch/patient")
    body = exchange(client, code, verifier).json()
    assert body["scope"] == "user/*.rs"
    assert "patient" not in body
    _, claims = verified_claims(client, body["access_token"])
    assert claims["fhirUser"] == f"Practitioner/{WEBER}"
    assert "patient" not in claims


def test_a_related_person_acts_for_the_patient_they_represent(client: TestClient) -> None:
    code, verifier = authorization_code(client, ANA)
    body = exchange(client, code, verifier).json()
    assert body["patient"] == NOAH
    _, claims = verified_claims(client, body["access_token"])
    assert claims["patient"] == NOAH
    assert claims["fhirUser"] == f"RelatedPerson/{ANA}"


def test_v1_scopes_are_granted_as_requested(client: TestClient) -> None:
    code, verifier = authorization_code(client, MARIE, scope="patient/Observation.read patient/*.write")
    assert exchange(client, code, verifier).json()["scope"] == "patient/Observation.read patient/*.write"


def test_a_user_who_may_have_none_of_the_scopes_goes_back_with_invalid_scope(client: TestClient) -> None:
    _, challenge = pkce()
    answer = redirect_params(log_in(client, authorization_request(challenge, scope="user/*.rs"), MARIE))
    assert answer["error"] == "invalid_scope"
    assert answer["state"] == "af0ifjsldkj"
    assert "code" not in answer


def test_a_wrong_code_verifier_fails_and_burns_the_code(client: TestClient) -> None:
    code, verifier = authorization_code(client, MARIE)
    wrong = exchange(client, code, pkce()[0])
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    assert exchange(client, code, verifier).json()["error"] == "invalid_grant"


def test_a_code_is_used_once(client: TestClient) -> None:
    code, verifier = authorization_code(client, MARIE)
    assert exchange(client, code, verifier).status_code == 200
    again = exchange(client, code, verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"


def test_the_code_needs_its_verifier_and_redirect_uri(client: TestClient) -> None:
    code, verifier = authorization_code(client, MARIE)
    missing = exchange(client, code, verifier, code_verifier="")
    assert missing.json()["error"] == "invalid_request"
    code, verifier = authorization_code(client, MARIE)
    elsewhere = exchange(client, code, verifier, redirect_uri="http://127.0.0.1:5173/other")
    assert elsewhere.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(("username", "password"), [(MARIE, "wrong"), ("nobody", "demo"), (MARIE, "")])
def test_a_wrong_password_shows_the_form_again(client: TestClient, username: str, password: str) -> None:
    _, challenge = pkce()
    response = log_in(client, authorization_request(challenge), username, password)
    assert response.status_code == 200
    assert "location" not in response.headers
    assert "Wrong username or password." in response.text
    assert read_form(response.text).fields["state"] == "af0ifjsldkj"


def test_cancel_sends_access_denied_back(client: TestClient) -> None:
    _, challenge = pkce()
    answer = redirect_params(log_in(client, authorization_request(challenge), "", "", action="deny"))
    assert answer["error"] == "access_denied"
    assert answer["state"] == "af0ifjsldkj"
    assert "code" not in answer


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"code_challenge": "", "code_challenge_method": ""}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"aud": "https://other.example/fhir"}, "invalid_request"),
        ({"aud": ""}, "invalid_request"),
        ({"scope": "launch"}, "invalid_scope"),
        ({"scope": "system/*.rs"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_bad_requests_of_a_known_client_go_back_to_it(client: TestClient, overrides: dict, error: str) -> None:
    _, challenge = pkce()
    response = client.get("/auth/authorize", params=authorization_request(challenge, **overrides))
    answer = redirect_params(response)
    assert answer["error"] == error
    assert answer["state"] == "af0ifjsldkj"


@pytest.mark.parametrize(
    "overrides",
    [
        {"client_id": "unknown-app"},
        {"client_id": ""},
        {"redirect_uri": "https://attacker.example/callback"},
        {"redirect_uri": "http://127.0.0.1.attacker.example/callback"},
        {"redirect_uri": "http://user@127.0.0.1/callback"},
        {"redirect_uri": ""},
    ],
)
def test_an_unknown_client_or_redirect_uri_gets_an_error_page_never_a_redirect(
    client: TestClient, overrides: dict
) -> None:
    _, challenge = pkce()
    params = authorization_request(challenge, **overrides)
    for response in (
        client.get("/auth/authorize", params=params),
        client.post("/auth/authorize", data={**params, "username": MARIE, "password": "demo"}),
    ):
        assert response.status_code == 400
        assert "location" not in response.headers
        assert response.headers["content-type"].startswith("text/html")


@pytest.mark.parametrize("redirect", ["http://localhost/cb", "http://127.0.0.1:49152/", "http://[::1]:8000/a/b?x=1"])
def test_the_demo_app_may_use_any_loopback_redirect(client: TestClient, redirect: str) -> None:
    _, challenge = pkce()
    response = log_in(client, authorization_request(challenge, redirect_uri=redirect), MARIE)
    assert response.status_code == 302
    assert response.headers["location"].startswith(redirect)


def test_the_login_page_escapes_what_the_request_carries(client: TestClient) -> None:
    _, challenge = pkce()
    state = '"><script>alert(1)</script>'
    page = client.get("/auth/authorize", params=authorization_request(challenge, state=state))
    assert "<script>" not in page.text
    assert read_form(page.text).fields["state"] == state


def test_http_is_refused_outside_loopback(tmp_path: Path) -> None:
    with server(demo_settings(tmp_path, base_url="http://fhir.example.lu")) as plain:
        response = plain.post("/auth/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 400
    assert response.json()["error"] == "insecure_transport"


# --- client_credentials + private_key_jwt ---------------------------------------------------------


def cns_key(data_dir: Path) -> RSAKey:
    return RSAKey.import_key(json.loads((data_dir / "auth" / "cns-client-key.json").read_text()))


def assertion(key: RSAKey, **overrides: object) -> str:
    """A SMART Backend Services client assertion (RS384) for the cns client."""
    now = int(time.time())
    claims = {"iss": "cns", "sub": "cns", "aud": TOKEN_URL, "exp": now + 120, "iat": now, "jti": secrets.token_hex(8)}
    return jwt.encode(
        {"alg": "RS384", "kid": key.kid, "typ": "JWT"}, {**claims, **overrides}, key, algorithms=["RS384"]
    )


def client_credentials(client: TestClient, signed: str, scope: str = "system/*.rs"):
    return client.post(
        "/auth/token",
        data={
            "grant_type": "client_credentials",
            "scope": scope,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signed,
        },
    )


def test_a_system_client_gets_a_token_with_a_signed_assertion(client: TestClient, data_dir: Path) -> None:
    response = client_credentials(client, assertion(cns_key(data_dir)))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["scope"] == "system/*.rs"
    assert body["token_type"] == "Bearer"
    assert "patient" not in body
    _, claims = verified_claims(client, body["access_token"])
    assert claims["sub"] == claims["client_id"] == "cns"
    assert "fhirUser" not in claims and "patient" not in claims


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": BASE},
        {"aud": f"{ISSUER}/introspect"},
        {"exp": int(time.time()) - 300},
        {"exp": int(time.time()) + 3600},
        {"iss": "other", "sub": "cns"},
        {"sub": "demo-app", "iss": "demo-app"},
    ],
    ids=["audience-is-base", "audience-is-other-endpoint", "expired", "lives-too-long", "iss-not-sub", "public"],
)
def test_a_bad_assertion_is_refused(client: TestClient, data_dir: Path, overrides: dict) -> None:
    response = client_credentials(client, assertion(cns_key(data_dir), **overrides))
    assert response.status_code in (400, 401)
    assert response.json()["error"] in ("invalid_client", "unauthorized_client")
    assert "access_token" not in response.json()


def test_an_assertion_signed_with_another_key_is_refused(client: TestClient) -> None:
    other = RSAKey.generate_key(2048, auto_kid=True)
    response = client_credentials(client, assertion(other))
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


def test_an_assertion_is_used_once(client: TestClient, data_dir: Path) -> None:
    signed = assertion(cns_key(data_dir))
    assert client_credentials(client, signed).status_code == 200
    assert client_credentials(client, signed).json()["error"] == "invalid_client"


def test_no_assertion_no_token(client: TestClient) -> None:
    response = client.post("/auth/token", data={"grant_type": "client_credentials", "client_id": "cns"})
    assert response.json()["error"] == "invalid_client"


def test_a_system_client_gets_only_system_scopes(client: TestClient, data_dir: Path) -> None:
    response = client_credentials(client, assertion(cns_key(data_dir)), scope="patient/*.rs user/*.rs")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    narrowed = client_credentials(client, assertion(cns_key(data_dir)), scope="system/Claim.cruds patient/*.rs")
    assert narrowed.json()["scope"] == "system/Claim.cruds"


def test_token_requests_must_be_forms_without_repeated_parameters(client: TestClient) -> None:
    as_json = client.post("/auth/token", json={"grant_type": "client_credentials"})
    assert as_json.status_code == 400 and as_json.json()["error"] == "invalid_request"
    repeated = client.post("/auth/token", content="grant_type=a&grant_type=b", headers=form_type())
    assert repeated.status_code == 400 and repeated.json()["error"] == "invalid_request"
    unknown = client.post("/auth/token", data={"grant_type": "password"})
    assert unknown.json()["error"] == "unsupported_grant_type"


def form_type() -> dict[str, str]:
    return {"content-type": "application/x-www-form-urlencoded"}


# --- introspection --------------------------------------------------------------------------------


def introspect(client: TestClient, data_dir: Path, token: str):
    return client.post(
        "/auth/introspect",
        data={
            "token": token,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion(cns_key(data_dir)),
        },
    )


def test_introspection_of_a_valid_token(client: TestClient, data_dir: Path) -> None:
    code, verifier = authorization_code(client, ANA)
    token = exchange(client, code, verifier).json()["access_token"]
    response = introspect(client, data_dir, token)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"] is True
    assert body["client_id"] == "demo-app"
    assert body["sub"] == ANA
    assert body["scope"] == "launch/patient patient/*.rs"
    assert body["patient"] == NOAH
    assert body["fhirUser"] == f"RelatedPerson/{ANA}"
    assert body["iss"] == ISSUER and body["aud"] == BASE


def test_introspection_of_expired_forged_and_garbage_tokens(client: TestClient, data_dir: Path) -> None:
    keys = SigningKeys.load_or_create(data_dir / "auth")
    common = {"issuer": ISSUER, "audience": BASE, "subject": MARIE, "client_id": "demo-app", "scope": "patient/*.rs"}
    expired = mint_access_token(keys, **common, lifetime=60, now=int(time.time()) - 3600)
    forged = mint_access_token(SigningKeys.load_or_create(data_dir / "elsewhere"), **common, lifetime=60)
    other_issuer = mint_access_token(keys, **{**common, "issuer": "https://idp.example"}, lifetime=60)
    for token in (expired, forged, other_issuer, "not-a-token"):
        response = introspect(client, data_dir, token)
        assert response.status_code == 200
        assert response.json() == {"active": False}


def test_only_confidential_clients_may_introspect(client: TestClient) -> None:
    response = client.post("/auth/introspect", data={"token": "x", "client_id": "demo-app"})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_client"


# --- keys and discovery ---------------------------------------------------------------------------


def test_the_jwks_publishes_the_public_signing_key_only(client: TestClient, data_dir: Path) -> None:
    response = client.get("/auth/jwks")
    assert response.status_code == 200
    jwks = response.json()
    assert jwks == SigningKeys.load_or_create(data_dir / "auth").public_jwks()
    (key,) = jwks["keys"]
    assert set(key) == {"kty", "kid", "alg", "use", "n", "e"}
    assert key["kid"] == RSAKey.import_key(key).thumbprint()
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")


def test_the_smart_configuration_describes_the_built_in_server(client: TestClient) -> None:
    response = client.get("/.well-known/smart-configuration")
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    configuration = response.json()
    assert configuration["issuer"] == ISSUER
    assert configuration["jwks_uri"] == f"{ISSUER}/jwks"
    assert configuration["authorization_endpoint"] == f"{ISSUER}/authorize"
    assert configuration["token_endpoint"] == TOKEN_URL
    assert configuration["introspection_endpoint"] == f"{ISSUER}/introspect"
    assert configuration["grant_types_supported"] == ["authorization_code", "client_credentials"]
    assert configuration["code_challenge_methods_supported"] == ["S256"]
    assert configuration["response_types_supported"] == ["code"]
    assert set(configuration["token_endpoint_auth_methods_supported"]) == {"private_key_jwt", "none"}
    assert {"launch-standalone", "client-public", "client-confidential-asymmetric", "permission-v2"} <= set(
        configuration["capabilities"]
    )
    assert "sso-openid-connect" not in configuration["capabilities"]
    assert client.get(urlsplit(configuration["jwks_uri"]).path).status_code == 200


def test_with_an_external_issuer_only_discovery_is_served(tmp_path: Path) -> None:
    settings = demo_settings(tmp_path, auth_issuer="https://idp.example/realms/lu")
    with server(settings) as external:
        configuration = external.get("/.well-known/smart-configuration").json()
        assert configuration["issuer"] == "https://idp.example/realms/lu"
        assert "token_endpoint" not in configuration and "jwks_uri" not in configuration
        assert external.get("/auth/jwks").status_code == 404
        assert external.post("/auth/token").status_code == 404
    assert not (tmp_path / "auth").exists()


def test_a_minted_token_verifies_against_the_public_jwks(tmp_path: Path) -> None:
    keys = SigningKeys.load_or_create(tmp_path)
    token = mint_access_token(
        keys,
        issuer=ISSUER,
        audience=BASE,
        subject=WEBER,
        client_id="demo-app",
        scope="user/*.rs",
        lifetime=300,
        fhir_user=f"Practitioner/{WEBER}",
        extra_claims={"scope": "user/*.cruds"},
    )
    decoded = jwt.decode(token, KeySet.import_key_set(keys.public_jwks()))
    assert decoded.header == {"typ": "at+jwt", "alg": "RS256", "kid": keys.kid}
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": ISSUER}, aud={"essential": True, "value": BASE}, exp={"essential": True}
    ).validate(decoded.claims)
    assert decoded.claims["exp"] - decoded.claims["iat"] == 300
    assert decoded.claims["scope"] == "user/*.cruds"
    assert decoded.claims["fhirUser"] == f"Practitioner/{WEBER}"
    assert "patient" not in decoded.claims
    assert len(decoded.claims["jti"]) >= 16
    expired = mint_access_token(
        keys, issuer=ISSUER, audience=BASE, subject=WEBER, client_id="c", scope="", lifetime=10, now=1_000_000
    )
    with pytest.raises(Exception, match="expired"):
        jwt.JWTClaimsRegistry(exp={"essential": True}).validate(jwt.decode(expired, keys.private_key()).claims)


def test_keys_survive_a_restart_and_files_are_private(data_dir: Path) -> None:
    auth = data_dir / "auth"
    before = SigningKeys.load_or_create(auth).kid
    users = (auth / "users.json").read_text()
    with server(demo_settings(data_dir)) as restarted:
        assert restarted.get("/auth/jwks").json()["keys"][0]["kid"] == before
    assert (auth / "users.json").read_text() == users  # seeding again changes nothing
    for name in ("signing-key.json", "cns-client-key.json", "users.json", "clients.json"):
        assert (auth / name).stat().st_mode & 0o777 == 0o600, name


def test_the_demo_accounts(data_dir: Path) -> None:
    auth = data_dir / "auth"
    users = {user["username"]: user for user in json.loads((auth / "users.json").read_text())["users"]}
    assert len(users) == 11
    assert users[ANA]["patient"] == NOAH
    assert users[WEBER]["fhirUser"] == f"Practitioner/{WEBER}"
    assert users[MARIE]["password"].startswith("scrypt$")
    assert users[MARIE]["password"] != users[NOAH]["password"]  # per-user salt
    clients = {entry["client_id"]: entry for entry in json.loads((auth / "clients.json").read_text())["clients"]}
    assert clients["cns"]["jwks"]["keys"][0]["kid"] == cns_key(data_dir).kid
    assert "d" not in clients["cns"]["jwks"]["keys"][0]
    assert clients["demo-app"]["token_endpoint_auth_method"] == "none"


def test_concurrent_first_starts_agree_on_one_key(tmp_path: Path) -> None:
    pids = []
    for _ in range(4):
        pid = os.fork()
        if pid == 0:
            try:
                SigningKeys.load_or_create(tmp_path)
            finally:
                os._exit(0)
        pids.append(pid)
    for pid in pids:
        os.waitpid(pid, 0)
    assert [path.name for path in tmp_path.iterdir()] == ["signing-key.json"]


# --- scope arithmetic -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("requested", "allowed", "granted"),
    [
        ("patient/*.cruds", ["patient/*.rs"], "patient/*.rs"),
        ("patient/Observation.rs", ["patient/*.cruds"], "patient/Observation.rs"),
        ("patient/*.read", ["patient/*.cruds"], "patient/*.read"),
        ("patient/*.*", ["patient/*.rs"], "patient/*.rs"),
        ("patient/*.write", ["patient/*.rs"], ""),
        ("patient/*.rs", ["patient/Condition.rs patient/Observation.r"], "patient/Condition.rs patient/Observation.r"),
        ("patient/Observation.rs?category=laboratory", ["patient/*.rs"], "patient/Observation.rs?category=laboratory"),
        (
            "patient/*.rs",
            ["patient/Observation.rs?category=vital-signs"],
            "patient/Observation.rs?category=vital-signs",
        ),
        ("user/*.rs", ["patient/*.cruds"], ""),
        (
            "launch/patient openid fhirUser offline_access",
            ["launch/patient openid fhirUser offline_access"],
            "launch/patient",
        ),
        ("patient/*.cruds user/*.rs", ["patient/*.cruds user/*.cruds", "patient/*.rs"], "patient/*.rs"),
    ],
)
def test_granted_scope_is_the_intersection(requested: str, allowed: list[str], granted: str) -> None:
    assert granted_scope(requested, *allowed) == granted


@pytest.mark.parametrize("scope", ["launch", "patient/*.sr", "patient/*.", "doctor/*.rs", "patient/observation.rs"])
def test_unsupported_scopes_are_refused(scope: str) -> None:
    with pytest.raises(ValueError):
        granted_scope(scope, "patient/*.cruds")
