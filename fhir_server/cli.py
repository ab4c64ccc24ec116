"""Command line: `fhir-server serve`, `fhir-server validate`."""

from __future__ import annotations

import argparse
import sys

from fhir_server.config import Settings
from fhir_server.log_format import configure_logging


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from fhir_server.app import create_app

    overrides = {k: v for k, v in vars(args).items() if k in Settings.model_fields and v is not None}
    settings = Settings(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app = create_app(settings)
    configure_logging()
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_config=None)
    return 0


def _validate(args: argparse.Namespace) -> int:
    """Validate JSON files (a resource each); exit 1 if any has an error, 2 if one cannot be read."""
    import json
    from pathlib import Path

    from fhir_server.fhir.profiles import ProfileValidator
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
        issues = validator.validate(resource, args.profile)
        errors = sum(1 for i in issues if i.severity in ("error", "fatal"))
        print(f"{name}: {'invalid' if errors else 'valid'} ({errors} errors, {len(issues) - errors} other issues)")
        for issue in issues:
            print(f"  {issue.severity:<11} {issue.code:<12} {issue.diagnostics}")
        if errors and status == 0:
            status = 1
    return status


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhir-server", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the FHIR server")
    serve.add_argument("--host", help="interface to bind (FHIR_SERVER_HOST, default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="TCP port (FHIR_SERVER_PORT, default 8080)")
    serve.add_argument("--data-dir", dest="data_dir", help="folder of the SQLite store (FHIR_SERVER_DATA_DIR)")
    serve.add_argument("--base-url", dest="base_url", help="public base URL (FHIR_SERVER_BASE_URL)")
    serve.add_argument("--demo", action="store_true", default=None, help="load the demo data set (FHIR_SERVER_DEMO)")
    serve.set_defaults(handler=_serve)
    validate = commands.add_parser("validate", help="validate resources (JSON files) against their profiles")
    validate.add_argument("files", nargs="+", metavar="FILE", help="a JSON file holding one resource")
    validate.add_argument("--profile", help="canonical URL of the profile to validate against")
    validate.set_defaults(handler=_validate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
