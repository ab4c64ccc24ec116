"""``fhir-server token`` and ``fhir-server user add``: the built-in authorization server's keys and users
from the command line."""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from fhir_server.config import Settings
from fhir_server.security.issuer import mint_access_token
from fhir_server.security.keys import SigningKeys
from fhir_server.security.scopes import parse_scopes
from fhir_server.security.users import NewUser, UserDirectory

CLI_CLIENT_ID = "fhir-server-cli"
"""``client_id`` of the tokens minted for a patient, practitioner or related person."""
PATIENT_SCOPE = "patient/*.cruds launch/patient"
PRACTITIONER_SCOPE = "user/*.cruds"
SYSTEM_SCOPE = "system/*.cruds"


def token_command(args: argparse.Namespace) -> int:
    """Print an access token signed with the data dir's key. Exit 2 on a bad combination of options."""
    settings = _settings(args)
    if settings.auth_issuer is not None:
        return _fail("FHIR_SERVER_AUTH_ISSUER is set: tokens come from that issuer, not from this server's key")
    chosen = [name for name in ("practitioner", "related_person", "system") if getattr(args, name)]
    if len(chosen) > 1 or (chosen and args.patient and chosen != ["related_person"]) or not (chosen or args.patient):
        return _fail(
            "give one of --patient, --practitioner, --related-person, --system (--related-person takes --patient)"
        )
    try:
        parse_scopes(args.scope)
    except ValueError as exc:
        return _fail(str(exc))
    claims = _token_claims(args, settings)
    if isinstance(claims, str):
        return _fail(claims)
    token = mint_access_token(
        SigningKeys.load_or_create(settings.auth_dir),
        issuer=settings.token_issuer(),
        audience=settings.token_audience(),
        lifetime=args.lifetime or settings.auth_token_lifetime,
        **claims,
    )
    print(token)
    return 0


def user_add_command(args: argparse.Namespace, stdin: TextIO = sys.stdin) -> int:
    """Register a user of the login page; the password is the first line of standard input, so it shows
    neither in the process list nor in the shell history. Exit 1 when refused."""
    password = stdin.readline().rstrip("\r\n")
    if not password:
        return _fail("no password on standard input", status=1)
    try:
        UserDirectory(_settings(args).auth_dir).add(NewUser(args.username, args.fhir_user, password, args.patient))
    except ValueError as exc:
        return _fail(str(exc), status=1)
    print(f"user {args.username} added ({args.fhir_user})")
    return 0


def _token_claims(args: argparse.Namespace, settings: Settings) -> dict | str:
    """sub, client_id, scope and launch context for the chosen identity, or the reason there is none."""
    if args.system:
        return {"subject": args.system, "client_id": args.system, "scope": args.scope or SYSTEM_SCOPE}
    if args.practitioner:
        return {
            "subject": args.practitioner,
            "client_id": CLI_CLIENT_ID,
            "scope": args.scope or PRACTITIONER_SCOPE,
            "fhir_user": f"Practitioner/{args.practitioner}",
        }
    patient, subject, fhir_user = args.patient, args.patient, f"Patient/{args.patient}"
    if args.related_person:
        subject, fhir_user = args.related_person, f"RelatedPerson/{args.related_person}"
        registered = UserDirectory(settings.auth_dir).with_fhir_user(fhir_user)
        patient = args.patient or (registered.patient if registered else None)
        if patient is None:
            return f"{fhir_user} is not in the users file: say which patient they represent with --patient"
    return {
        "subject": subject,
        "client_id": CLI_CLIENT_ID,
        "scope": args.scope or PATIENT_SCOPE,
        "patient": patient,
        "fhir_user": fhir_user,
    }


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name) for name in ("data_dir", "base_url") if getattr(args, name, None)}
    return Settings(**overrides)


def _fail(message: str, status: int = 2) -> int:
    print(f"fhir-server: {message}", file=sys.stderr)
    return status
