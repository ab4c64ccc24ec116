"""``fhir-server token`` and ``fhir-server user add``, run as ``python -m fhir_server`` processes."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jws, jwt
from joserfc.jwk import KeySet
from starlette.applications import Starlette
from starlette.testclient import TestClient

from fhir_server.config import Settings
from fhir_server.security.auth_routes import auth_routes
from fhir_server.security.keys import SigningKeys

BASE = "https://fhir.example.lu"


def fhir_server(*args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("FHIR_SERVER_")}
    return subprocess.run(
        [sys.executable, "-m", "fhir_server", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**clean, **env},
        timeout=60,
        check=False,
    )


def token_for(data_dir: Path, *args: str) -> dict:
    """The claims of the token the command prints, checked against the data dir's public keys."""
    done = fhir_server("token", *args, "--data-dir", str(data_dir), "--base-url", BASE)
    assert done.returncode == 0, done.stderr
    decoded = jwt.decode(
        done.stdout.strip(), KeySet.import_key_set(SigningKeys.load_or_create(data_dir / "auth").public_jwks())
    )
    assert decoded.header["typ"] == "at+jwt"
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": f"{BASE}/auth"},
        aud={"essential": True, "value": BASE},
        exp={"essential": True},
    ).validate(decoded.claims)
    return decoded.claims


def test_a_patient_token(tmp_path: Path) -> None:
    claims = token_for(tmp_path, "--patient", "lu-patient-marie-schmit")
    assert claims["sub"] == claims["patient"] == "lu-patient-marie-schmit"
    assert claims["fhirUser"] == "Patient/lu-patient-marie-schmit"
    assert claims["scope"] == "patient/*.cruds launch/patient"
    assert claims["client_id"] == "fhir-server-cli"
    assert claims["exp"] - claims["iat"] == 3600


def test_a_practitioner_token_with_its_own_scope_and_lifetime(tmp_path: Path) -> None:
    claims = token_for(tmp_path, "--practitioner", "lu-practitioner-claude-weber")
    assert claims["scope"] == "user/*.cruds"
    assert claims["fhirUser"] == "Practitioner/lu-practitioner-claude-weber"
    assert "patient" not in claims
    narrow = token_for(
        tmp_path, "--practitioner", "x", "--scope", "user/Patient.rs user/CareTeam.read", "--lifetime", "60"
    )
    assert narrow["scope"] == "user/Patient.rs user/CareTeam.read"
    assert narrow["exp"] - narrow["iat"] == 60


def test_a_system_token(tmp_path: Path) -> None:
    claims = token_for(tmp_path, "--system", "cns")
    assert claims["sub"] == claims["client_id"] == "cns"
    assert claims["scope"] == "system/*.cruds"
    assert "fhirUser" not in claims and "patient" not in claims


def test_a_related_person_token_for_the_patient_in_the_users_file(tmp_path: Path) -> None:
    added = fhir_server(
        "user", "add", "ana", "--fhir-user", "RelatedPerson/ana", "--patient", "noah",
        "--password-stdin", "--data-dir", str(tmp_path), stdin="s3cret\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    claims = token_for(tmp_path, "--related-person", "ana")
    assert claims["patient"] == "noah"
    assert claims["fhirUser"] == "RelatedPerson/ana"
    assert claims["scope"] == "patient/*.cruds launch/patient"
    assert token_for(tmp_path, "--related-person", "ana", "--patient", "other")["patient"] == "other"
    unknown = fhir_server("token", "--related-person", "stranger", "--data-dir", str(tmp_path))
    assert unknown.returncode == 2
    assert "--patient" in unknown.stderr and unknown.stdout == ""


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["--patient", "a", "--practitioner", "b"],
        ["--system", "cns", "--patient", "a"],
        ["--patient", "a", "--scope", "launch"],
    ],
)
def test_a_bad_combination_prints_no_token(tmp_path: Path, args: list[str]) -> None:
    done = fhir_server("token", *args, "--data-dir", str(tmp_path))
    assert done.returncode == 2
    assert done.stdout == ""


def test_no_token_for_an_external_issuer(tmp_path: Path) -> None:
    done = fhir_server(
        "token", "--patient", "a", "--data-dir", str(tmp_path), FHIR_SERVER_AUTH_ISSUER="https://idp.example"
    )
    assert done.returncode == 2
    assert not (tmp_path / "auth").exists()


def test_the_server_publishes_the_key_the_command_signed_with(tmp_path: Path) -> None:
    done = fhir_server("token", "--system", "x", "--data-dir", str(tmp_path), "--base-url", BASE)
    header = jws.extract_compact(done.stdout.strip().encode()).headers()
    settings = Settings(data_dir=tmp_path, base_url=BASE, log_requests=False)
    with TestClient(Starlette(routes=auth_routes(settings)), base_url=BASE) as client:
        assert client.get("/auth/jwks").json()["keys"][0]["kid"] == header["kid"]
    assert (tmp_path / "auth" / "signing-key.json").stat().st_mode & 0o777 == 0o600


def test_a_user_added_on_the_command_line_logs_in(tmp_path: Path) -> None:
    base = "http://127.0.0.1:8080"
    added = fhir_server(
        "user", "add", "dr-kieffer", "--fhir-user", "Practitioner/kieffer", "--password-stdin",
        "--data-dir", str(tmp_path), stdin="correct horse battery staple\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert (tmp_path / "auth" / "users.json").stat().st_mode & 0o777 == 0o600
    settings = Settings(data_dir=tmp_path, base_url=base, demo=True, log_requests=False)
    verifier = "v" * 50
    params = {
        "response_type": "code",
        "client_id": "demo-app",
        "redirect_uri": "http://localhost:3000/cb",
        "scope": "user/*.rs",
        "state": "s1",
        "aud": base,
        "code_challenge": create_s256_code_challenge(verifier),
        "code_challenge_method": "S256",
    }
    app = Starlette(routes=auth_routes(settings))
    with TestClient(app, base_url=base, follow_redirects=False) as client:
        login = {**params, "username": "dr-kieffer", "password": "correct horse battery staple"}
        redirect = client.post("/auth/authorize", data=login)
        assert redirect.status_code == 302, redirect.text
        code = parse_qs(urlsplit(redirect.headers["location"]).query)["code"][0]
        token = client.post(
            "/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": params["redirect_uri"],
                "client_id": "demo-app",
                "code_verifier": verifier,
            },
        ).json()
    claims = jwt.decode(
        token["access_token"], KeySet.import_key_set(SigningKeys.load_or_create(tmp_path / "auth").public_jwks())
    ).claims
    assert claims["fhirUser"] == "Practitioner/kieffer"
    assert claims["sub"] == "dr-kieffer"
    assert claims["exp"] > time.time()


@pytest.mark.parametrize(
    ("args", "stdin", "status"),
    [
        (["taken", "--fhir-user", "Patient/p1", "--password-stdin"], "pw\n", 1),
        (["x", "--fhir-user", "Organization/o1", "--password-stdin"], "pw\n", 1),
        (["x", "--fhir-user", "RelatedPerson/r1", "--password-stdin"], "pw\n", 1),
        (["x", "--fhir-user", "Practitioner/d1", "--patient", "p1", "--password-stdin"], "pw\n", 1),
        (["x", "--fhir-user", "Patient/p2", "--password-stdin"], "", 1),
        (["x", "--fhir-user", "Patient/p2"], "pw\n", 2),
    ],
    ids=[
        "taken",
        "not-a-user-type",
        "representative-without-patient",
        "practitioner-with-patient",
        "no-password",
        "no-stdin-flag",
    ],
)
def test_user_add_refusals(tmp_path: Path, args: list[str], stdin: str, status: int) -> None:
    first = fhir_server(
        "user",
        "add",
        "taken",
        "--fhir-user",
        "Patient/p1",
        "--password-stdin",
        "--data-dir",
        str(tmp_path),
        stdin="pw\n",
    )
    assert first.returncode == 0, first.stderr
    before = (tmp_path / "auth" / "users.json").read_text()
    done = fhir_server("user", "add", *args, "--data-dir", str(tmp_path), stdin=stdin)
    assert done.returncode == status
    assert (tmp_path / "auth" / "users.json").read_text() == before
