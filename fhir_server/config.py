"""Server settings: one pydantic-settings class, every field settable as FHIR_SERVER_<NAME>."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import NonNegativeInt, PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

from fhir_server.mr.settings import MrRuleSettings

REPOSITORY_ROOT = Path(__file__).resolve().parents[1]
"""A source checkout or editable install: profiles/ and terminology/ sit beside the package."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FHIR_SERVER_")

    host: str = "127.0.0.1"
    port: int = 8080
    data_dir: Path = Path("data")
    base_url: str | None = None
    """Public base URL used in Location headers and Bundle links; default http://host:port."""

    store: str | None = None
    """Where resources live: a ``mongodb://…`` URL (MongoDB replica set or sharded cluster), or
    a SQLite file path; default the embedded SQLite file in ``data_dir``."""

    demo: bool = False
    """Load the Luxembourg demo data set (fhir_server/demo) at start if not already there."""

    sqlite_synchronous: Literal["FULL", "NORMAL"] = "FULL"
    """FULL survives power loss; NORMAL (WAL) only process crashes, ~4x faster writes."""

    max_body_bytes: int = 16 * 1024 * 1024
    max_bundle_entries: int = 10_000
    """Entries of one batch or transaction; more get 413."""
    default_page_size: int = 20
    max_page_size: int = 1000
    """A larger ``_count`` is lowered to it (the self link shows the page size applied)."""
    max_included: PositiveInt = 1000
    """Resources one ``_include``/``_revinclude`` brings per step; beyond, cut with a too-costly warning."""
    max_search_values: PositiveInt = 500
    """Values in one search, OR and AND together; more get 400."""
    max_chain_depth: NonNegativeInt = 4
    """Levels of chaining and ``_has`` in one search parameter; more get 400."""
    local_timezone: str = "Europe/Luxembourg"
    """Zone for date-only values and dateTimes without offset, as the spec leaves to the server."""

    log_requests: bool = True
    profiles_dir: Path = REPOSITORY_ROOT / "profiles"
    """Luxembourg profiles and search parameters, published at start (the repo's profiles/)."""
    mr_rules_file: Path | None = None
    """A JSON object overriding the rule book's interpretations (fhir_server/mr/settings.py)."""
    terminology_dir: Path = REPOSITORY_ROOT / "terminology"
    """Code systems, value sets and concept maps (the repo's terminology/)."""

    workers: int = 1
    """Server processes sharing the port and the store (``--workers``). SearchParameters written
    through one are followed by the others within seconds."""
    auth: bool = True
    """Require SMART on FHIR bearer tokens. Off (``--no-auth``) only for local development:
    the server then binds to localhost whatever ``host`` says, and warns."""
    auth_issuer: str | None = None
    """Issuer of the access tokens; default the built-in authorization server at <base>/auth."""
    auth_jwks_file: Path | None = None
    """JSON Web Key Set of an external issuer (with ``auth_issuer``); default the built-in keys."""
    auth_audience: str | None = None
    """The ``aud`` tokens must carry; default the public base URL."""
    auth_cns_clients: list[str] = ["cns"]
    """Client ids of the CNS (national health insurer): they act on declarations and claims only."""
    auth_token_lifetime: int = 3600
    """Seconds an access token minted by the built-in authorization server stays valid."""
    auth_login_max_failures: NonNegativeInt = 5
    """Failed logins (or client authentications) of one account within the window that lock it out
    (built-in authorization server; 0: no limit). Counted per worker process."""
    auth_login_address_max_failures: NonNegativeInt = 50
    """Failed logins and client authentications from one client address (an IPv6 /64) within the
    window that lock that address out (0: no limit). Counted per worker process."""
    auth_login_failure_window_seconds: PositiveFloat = 900
    """How long a failed login or client authentication counts towards a lockout."""
    auth_login_lockout_seconds: PositiveFloat = 900
    """How long a locked-out account or address is refused (429 with Retry-After)."""
    bulk_retention_hours: float = 24
    """Hours a Bulk Data job (its status, manifest and NDJSON files in <data dir>/bulk) is kept."""
    max_concurrent_requests: int = 256
    """Requests in flight at once, per worker process; more get 429 with Retry-After (0: no limit)."""
    request_timeout_seconds: float = 60.0
    """A request not answered in this time is cancelled and answered 503 (0: no limit)."""

    def mr_rules(self) -> MrRuleSettings:
        if self.mr_rules_file is None:
            return MrRuleSettings()
        return MrRuleSettings.from_mapping(json.loads(self.mr_rules_file.read_text(encoding="utf-8")))

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "fhir.sqlite3"

    def public_base(self) -> str:
        return (self.base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def auth_dir(self) -> Path:
        """Keys, clients and users of the built-in authorization server."""
        return self.data_dir / "auth"

    def token_issuer(self) -> str:
        return (self.auth_issuer or f"{self.public_base()}/auth").rstrip("/")

    def token_audience(self) -> str:
        return self.auth_audience or self.public_base()
