"""Command line: `fhir-server serve`, `fhir-server validate`, `fhir-server copy-store`, `fhir-server load`,
`fhir-server token`, `fhir-server user add`."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from types import FrameType

from fhir_server import FHIR_VERSION, __version__
from fhir_server.config import Settings
from fhir_server.log_format import configure_logging

KEEP_ALIVE_SECONDS = 75
"""Idle keep-alive connections are kept longer than clients keep them (httpx: 5 s), so a client
never sends a request on a connection the server is closing at that moment."""
_LOOPBACK = ("127.0.0.1", "localhost", "::1")


def _stopped(signum: int, frame: FrameType | None) -> None:
    """SIGTERM outside uvicorn's own handler: before it serves, or when it raises the signal again
    after its graceful shutdown (requests finished, store closed). A requested stop: exit 0."""
    raise SystemExit(0)


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fhir_server.app import create_app

    signal.signal(signal.SIGTERM, _stopped)
    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    settings = Settings(**overrides)
    configure_logging()
    if not settings.auth:
        if settings.host not in _LOOPBACK:
            settings = settings.model_copy(update={"host": "127.0.0.1"})
        logging.getLogger("fhir_server").warning(
            "Authentication is OFF: anyone who can reach %s:%s reads and writes everything. "
            "For local development only.",
            settings.host,
            settings.port,
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.workers > 1:  # each worker builds its app from the environment
        for name, value in settings.model_dump(exclude_unset=False).items():
            if value is not None:
                os.environ[f"FHIR_SERVER_{name.upper()}"] = json.dumps(value) if isinstance(value, list) else str(value)
        uvicorn.run(
            "fhir_server.app:app_from_environment",
            factory=True,
            workers=settings.workers,
            host=settings.host,
            port=settings.port,
            access_log=False,
            log_config=None,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
        return 0
    app = create_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        access_log=False,
        log_config=None,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Validate JSON files (a resource each); exit 1 if any has an error, 2 if one cannot be read."""
    import json
    from pathlib import Path

    from fhir_server.errors import BadRequest
    from fhir_server.fhir.profiles import ProfileValidator
    from fhir_server.fhir.validation import check_json_shape
    from fhir_server.terminology import TerminologyService

    settings = Settings()
    validator = ProfileValidator.load(settings.profiles_dir, TerminologyService.load(settings.terminology_dir))
    status = 0
    for name in args.files:
        try:
            resource = json.loads(Path(name).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            print(f"{name}: cannot read: {exc}")
            status = 2
            continue
        try:
            if isinstance(resource, dict) and isinstance(resource.get("resourceType"), str):
                check_json_shape(resource, resource["resourceType"])
        except BadRequest as exc:
            issues = exc.issues
        else:
            issues = validator.validate(resource, args.profile)
        errors = sum(1 for i in issues if i.severity in ("error", "fatal"))
        print(f"{name}: {'invalid' if errors else 'valid'} ({errors} errors, {len(issues) - errors} other issues)")
        for issue in issues:
            print(f"  {issue.severity:<11} {issue.code:<12} {issue.diagnostics}")
        if errors and status == 0:
            status = 1
    return status


def _copy_store(args: argparse.Namespace) -> int:
    """Exit 0 when the copy verified, 1 on a count or hash mismatch, 2 when it could not run."""
    import asyncio

    from fhir_server.errors import FhirError
    from fhir_server.store.copy import copy_store

    try:
        report = asyncio.run(copy_store(args.source, args.target, progress=not args.quiet))
    except (FhirError, OSError) as exc:
        print(f"copy-store: {exc}", file=sys.stderr)
        return 2
    print(report.summary())
    return 0 if report.verified else 1


def _load(args: argparse.Namespace) -> int:
    """Exit 0 when loaded, 1 when a resource was refused, 2 on an unreadable file, 3 when stopped."""
    from fhir_server.load import run

    return run(args)


def _token(args: argparse.Namespace) -> int:
    """Exit 0 with the token on stdout; 2 on a bad combination of options."""
    from fhir_server.security.commands import token_command

    return token_command(args)


def _user_add(args: argparse.Namespace) -> int:
    """Exit 0 when added; 1 when refused (taken username, bad fhirUser, no password)."""
    from fhir_server.security.commands import user_add_command

    return user_add_command(args)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhir-server", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__} (FHIR {FHIR_VERSION})")
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the FHIR server")
    serve.add_argument("--host", help="interface to bind (FHIR_SERVER_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (FHIR_SERVER_PORT, default 8080)")
    serve.add_argument("--data-dir", dest="data_dir", help="folder of the SQLite store (FHIR_SERVER_DATA_DIR)")
    serve.add_argument("--base-url", dest="base_url", help="public base URL (FHIR_SERVER_BASE_URL)")
    serve.add_argument("--demo", action="store_true", default=None, help="load the demo data set (FHIR_SERVER_DEMO)")
    serve.add_argument(
        "--store",
        help="mongodb://… URL of a MongoDB replica set or sharded cluster, or a SQLite file "
        "(FHIR_SERVER_STORE, default: the SQLite file in the data dir)",
    )
    serve.add_argument("--workers", type=int, help="server processes (FHIR_SERVER_WORKERS, default 1)")
    serve.add_argument(
        "--no-auth",
        dest="auth",
        action="store_false",
        default=None,
        help="no access control, for local development only: binds to 127.0.0.1 and warns (FHIR_SERVER_AUTH=false)",
    )
    serve.set_defaults(handler=_serve)
    validate = commands.add_parser("validate", help="validate resources (JSON files) against their profiles")
    validate.add_argument("files", nargs="+", metavar="FILE", help="a JSON file holding one resource")
    validate.add_argument("--profile", help="canonical URL of the profile to validate against")
    validate.set_defaults(handler=_validate)
    copy_store = commands.add_parser(
        "copy-store", help="copy every version of every resource between stores (SQLite ⇄ MongoDB) and verify"
    )
    copy_store.add_argument("source", metavar="SRC", help="data dir, SQLite file or mongodb:// URL to read")
    copy_store.add_argument("target", metavar="DST", help="data dir, SQLite file or mongodb:// URL to fill (empty)")
    copy_store.add_argument("--quiet", action="store_true", help="no progress bar")
    copy_store.set_defaults(handler=_copy_store)
    load = commands.add_parser(
        "load", help="import NDJSON and Bundle files into the store (PUT by id, resumable, progress on stderr)"
    )
    load.add_argument(
        "files", nargs="+", metavar="FILE", help=".ndjson (a resource per line), Bundle JSON, or a folder"
    )
    load.add_argument("--data-dir", dest="data_dir", help="folder of the SQLite store (FHIR_SERVER_DATA_DIR)")
    load.add_argument("--store", help="mongodb://… URL or a SQLite file (FHIR_SERVER_STORE), as for serve")
    load.add_argument("--batch", type=int, default=500, help="resources per store transaction (default 500)")
    load.add_argument("--checkpoint", help="checkpoint file (default: <data dir>/load-checkpoint.json)")
    load.add_argument("--limit", type=int, help="stop after this many resources (exit 3, resumable; for tests)")
    load.add_argument("--quiet", action="store_true", help="no progress bar")
    load.add_argument(
        "--workers", type=int, help="validation processes (default: one per core; 0: validate in the main process)"
    )
    load.set_defaults(handler=_load)
    token = commands.add_parser(
        "token", help="print an access token signed with the built-in authorization server's key (data dir)"
    )
    token.add_argument("--patient", metavar="ID", help="a patient's token: patient/*.cruds launch/patient")
    token.add_argument("--practitioner", metavar="ID", help="a practitioner's token: user/*.cruds")
    token.add_argument(
        "--related-person",
        dest="related_person",
        metavar="ID",
        help="a representative's token for the patient they represent (users file, or --patient)",
    )
    token.add_argument("--system", metavar="NAME", help="a system client's token (client_id NAME): system/*.cruds")
    token.add_argument("--scope", help="space-separated scopes instead of the defaults above")
    token.add_argument("--lifetime", type=int, metavar="S", help="seconds (FHIR_SERVER_AUTH_TOKEN_LIFETIME)")
    token.add_argument("--data-dir", dest="data_dir", help="folder holding auth/ (FHIR_SERVER_DATA_DIR)")
    token.add_argument("--base-url", dest="base_url", help="public base URL: issuer <URL>/auth, audience <URL>")
    token.set_defaults(handler=_token)
    user = commands.add_parser("user", help="users of the built-in authorization server's login page")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    user_add = user_commands.add_parser("add", help="register a user (the password is read from standard input)")
    user_add.add_argument("username")
    user_add.add_argument(
        "--fhir-user", dest="fhir_user", required=True, help="Patient/<id>, Practitioner/<id> or RelatedPerson/<id>"
    )
    user_add.add_argument("--patient", metavar="ID", help="the patient a RelatedPerson represents")
    user_add.add_argument(
        "--password-stdin",
        dest="password_stdin",
        action="store_true",
        required=True,
        help="read the password from the first line of standard input (the only way to give it)",
    )
    user_add.add_argument("--data-dir", dest="data_dir", help="folder holding auth/ (FHIR_SERVER_DATA_DIR)")
    user_add.set_defaults(handler=_user_add)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
