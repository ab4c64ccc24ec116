"""Issue 7.1: only a valid access token of our issuer, for us, unexpired, gets in; the
scopes limit what it does. Each refusal is a 401 (token) or 403 (scope) OperationOutcome."""

from __future__ import annotations

import base64
import time

import pytest
from joserfc import jwt
from joserfc.jwk import RSAKey
from security_kit import BASE, ISSUER, Tokens, bearer

from fhir_server.security.keys import SigningKeys

MARIE = "lu-patient-marie-schmit"


def _forged(tokens: Tokens) -> str:
    """Right claims, signed by another key that claims our kid."""
    other = RSAKey.generate_key(2048)
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "sub": MARIE,
        "aud": BASE,
        "exp": now + 300,
        "iat": now,
        "jti": "x",
        "client_id": "demo-app",
        "scope": "patient/*.rs",
        "patient": MARIE,
    }
    return jwt.encode({"alg": "RS256", "typ": "at+jwt", "kid": tokens.keys.kid}, claims, other)


def _unsigned(tokens: Tokens) -> str:
    _, payload, _ = tokens.patient(MARIE).split(".")
    none_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
    return f"{none_header}.{payload}."


BAD_TOKENS = {
    "expired": lambda t: t.mint(scope="patient/*.rs", patient=MARIE, lifetime=60, now=int(time.time()) - 3600),
    "wrong audience": lambda t: t.mint(scope="patient/*.rs", patient=MARIE, audience="https://other.example/fhir"),
    "wrong issuer": lambda t: t.mint(scope="patient/*.rs", patient=MARIE, issuer="https://evil.example"),
    "forged signature": _forged,
    "alg none": _unsigned,
    "not a JWT": lambda t: "abc.def",
    "garbage": lambda t: "%%%",
    "no client_id": lambda t: t.mint(scope="patient/*.rs", patient=MARIE, client_id=None),
}


@pytest.mark.parametrize("kind", list(BAD_TOKENS))
@pytest.mark.parametrize(
    "path", ["/Patient/" + MARIE, "/Condition?patient=" + MARIE, "/Patient/" + MARIE + "/$mr-status"]
)
def test_bad_tokens_get_401(secured, kind: str, path: str) -> None:
    client, tokens = secured
    response = client.get(path, headers=bearer(BAD_TOKENS[kind](tokens)))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith('Bearer realm="fhir"')
    assert response.json()["issue"][0]["code"] == "login"


def test_token_of_another_key_set_is_refused(secured, tmp_path) -> None:
    client, _ = secured
    stranger = Tokens.__new__(Tokens)
    stranger.keys = SigningKeys.load_or_create(tmp_path / "elsewhere")
    response = client.get(f"/Patient/{MARIE}", headers=bearer(stranger.patient(MARIE)))
    assert response.status_code == 401


@pytest.mark.parametrize("header", [{}, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer "}])
def test_missing_or_malformed_authorization_gets_401(secured, header) -> None:
    client, _ = secured
    response = client.get(f"/Patient/{MARIE}", headers=header)
    assert response.status_code == 401
    assert "Bearer" in response.headers["www-authenticate"]


def test_capability_statement_is_public(secured) -> None:
    client, _ = secured
    assert client.get("/metadata").status_code == 200


@pytest.mark.parametrize(
    ("scope", "path", "status"),
    [
        ("patient/Condition.rs", f"/Condition?patient={MARIE}", 200),
        ("patient/Condition.rs", f"/Composition?subject={MARIE}", 403),
        ("patient/Condition.r", f"/Condition?patient={MARIE}", 403),
        ("patient/Condition.s", "/Condition/lu-condition-marie-schmit-g35", 403),
        ("patient/*.read", "/Condition/lu-condition-marie-schmit-g35", 200),
        ("patient/Condition.read", f"/Patient/{MARIE}", 403),
        ("user/*.rs", f"/Patient/{MARIE}", 403),  # a patient's token counts patient/ scopes only
        ("patient/Condition.rs?category=problem-list-item", f"/Condition?patient={MARIE}", 403),
        ("launch/patient openid", f"/Patient/{MARIE}", 403),
    ],
)
def test_patient_scopes_limit_types_and_interactions(secured, scope: str, path: str, status: int) -> None:
    client, tokens = secured
    response = client.get(path, headers=bearer(tokens.patient(MARIE, scope=scope)))
    assert response.status_code == status, response.text


@pytest.mark.parametrize(
    ("scope", "method", "status"),
    [
        ("system/*.rs", "GET", 200),
        ("system/Patient.r", "GET", 200),
        ("system/Condition.rs", "GET", 403),
        ("system/*.rs", "DELETE", 403),
        ("system/*.cruds", "DELETE", 204),
    ],
)
def test_system_clients_act_within_their_scopes(fresh_secured, scope: str, method: str, status: int) -> None:
    client, tokens = fresh_secured
    response = client.request(method, "/Patient/lu-patient-tom-kremer", headers=bearer(tokens.system("ehr", scope)))
    assert response.status_code == status, response.text


def test_capability_statement_describes_the_security(secured) -> None:
    client, _ = secured
    security = client.get("/metadata").json()["rest"][0]["security"]
    assert security["service"][0]["coding"][0]["code"] == "SMART-on-FHIR"
    uris = {e["url"]: e["valueUri"] for e in security["extension"][0]["extension"]}
    assert uris["token"] == f"{ISSUER}/token"
    configuration = client.get("/.well-known/smart-configuration").json()
    assert configuration["token_endpoint"] == uris["token"]
    assert "permission-v2" in configuration["capabilities"]


def test_a_token_accepted_before_is_refused_once_it_expires(secured) -> None:
    """Verified tokens are remembered (no second signature check), but never past their ``exp``."""
    client, tokens = secured
    now = int(time.time())
    token = tokens.mint(scope="patient/*.rs", patient=MARIE, lifetime=2, now=now)
    assert client.get(f"/Patient/{MARIE}", headers=bearer(token)).status_code == 200
    assert client.get(f"/Patient/{MARIE}", headers=bearer(token)).status_code == 200
    time.sleep(max(0.0, now + 2 - time.time()) + 0.1)
    response = client.get(f"/Patient/{MARIE}", headers=bearer(token))
    assert response.status_code == 401, response.text
