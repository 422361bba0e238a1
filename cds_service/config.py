"""One Settings object, read from environment variables (all prefixed ``IOP_CDS_``)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
POLICY_KEYS = ("optum-locg", "molina", "medica", "cca", "bh803")
MIN_CONSOLE_TOKEN_CHARS = 16
SECRET_SETTINGS = frozenset({"console_token"})
"""Settings never written to a log: ``describe`` shows only whether they are set."""


class SettingsError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _bool(value: str) -> bool:
    text = value.strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"expected a boolean (true/false), got {value!r}")


def _list(value: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in value.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Every knob of the service; each field maps to ``IOP_CDS_<FIELD NAME IN UPPER CASE>``."""

    # Security
    auth: bool = True
    """Verify the CDS client's JWT on every call (``IOP_CDS_AUTH``)."""
    trusted_issuers_file: str = ""
    """JSON file listing trusted issuers with their JWKS file or allowed ``jku`` URLs."""
    jwt_clock_skew_seconds: int = 60
    jwt_max_age_seconds: int = 3600
    """Oldest ``iat`` accepted, and how long a ``jti`` is remembered against replay."""
    jwks_cache_seconds: int = 3600
    replay_db: str = "iop-cds-replay.sqlite3"
    """SQLite file remembering seen ``jti`` values, shared by all gunicorn workers."""
    public_base_url: str = ""
    """Base URL clients call (for ``aud``), when the service runs behind a proxy; default: the request URL."""
    cors_origins: tuple[str, ...] = ("*",)

    # FHIR data gathering
    fhir_time_budget_seconds: float = 3.0
    """Wall-clock budget for all FHIR queries of one hook call."""
    fhir_page_cap: int = 20
    """Most ``next`` pages followed per query."""
    fhir_page_size: int = 100
    """``_count`` asked of every search, so large records need few pages."""
    fhir_max_response_bytes: int = 64 * 1024 * 1024
    """Largest FHIR answer read; a bigger one is a data gap (a 10,000-resource page is about 15 MB)."""
    fhir_max_workers: int = 16
    """Parallel FHIR queries: enough for every prefetch key at once."""

    # Evaluation
    mappings_dir: str = str(PROJECT_ROOT / "mappings")
    cards_dir: str = str(PROJECT_ROOT / "cards")
    attestation_validity_days: int = 7
    business_calendar: str = "US-MA"
    """Holiday calendar for business-day deadlines: ``COUNTRY[-SUBDIVISION]`` or ``none``."""
    timezone: str = "America/New_York"
    """The site's IANA time zone: calendar and business days are local dates there (a policy file may name its own)."""
    program_attestations_file: str = ""
    """YAML file in which the IOP program attests its program-level criteria (licensure, staffing, ...)."""
    max_cards: int = 10
    attestation_app_url: str = ""
    """SMART app opened from the documentation card; empty: the service's own ``/attest/launch``."""

    # The SMART attestation app (/attest)
    attest_client_id: str = "iop-cds-attest"
    """The client id the EHR registered for the attestation app (a public client using PKCE)."""
    attest_allowed_issuers: tuple[str, ...] = ()
    """FHIR base URLs (``iss``) the app may launch from: the SMART token is only ever sent to one of these."""
    attest_scopes: str = (
        "launch openid fhirUser patient/*.rs user/Practitioner.rs user/PractitionerRole.rs user/Organization.rs "
        "user/Location.rs patient/QuestionnaireResponse.c"
    )
    """Scopes asked at authorization: read the record to re-evaluate, create the QuestionnaireResponse."""
    attest_session_minutes: int = 30
    """How long an attestation session (and the SMART token it holds in memory) lives."""
    attest_cookie_samesite: str = "Lax"
    """``Lax``, or ``None`` when the EHR shows the app in an iframe of another site (then https is required)."""

    # Storage and operations
    feedback_db: str = "iop-cds-feedback.sqlite3"
    log_level: str = "INFO"
    bind: str = "127.0.0.1:8080"
    workers: int = 2
    threads: int = 8
    """Threads per gunicorn worker (gthread): a call waiting on a slow EHR holds one thread, not the worker."""
    max_requests: int = 2000
    """Calls a worker serves before it is recycled (with up to 10 % jitter), which keeps memory flat."""
    max_request_bytes: int = 32 * 1024 * 1024
    """Largest request body accepted (413 beyond); a 10,000-resource prefetch is about 15 MB."""
    max_feedback_items: int = 100
    """Most feedback items in one request (413 beyond)."""

    # Console for integration engineers (docs/console.md)
    console: bool = False
    """Serve ``/console`` (policies, criteria, value sets, try-it); off by default, and then ``/console`` is a 404."""
    console_token: str = ""
    """Shared secret a browser enters once at ``/console/login``; required whenever ``IOP_CDS_AUTH`` is on."""
    console_max_upload_bytes: int = 10 * 1024 * 1024
    """Largest Bundle or hook request the try-it page accepts (a clear error page beyond)."""

    def __post_init__(self) -> None:
        if self.attest_cookie_samesite not in ("Lax", "None"):
            raise SettingsError(
                f"IOP_CDS_ATTEST_COOKIE_SAMESITE: {self.attest_cookie_samesite!r} is neither Lax nor None (Strict "
                "would drop the session cookie on the EHR's redirect back to /attest/callback)"
            )
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(
                f"IOP_CDS_TIMEZONE: unknown time zone {self.timezone!r} (an IANA name such as America/New_York)"
            ) from None
        if self.console_token and len(self.console_token) < MIN_CONSOLE_TOKEN_CHARS:
            raise SettingsError(
                f"IOP_CDS_CONSOLE_TOKEN: at least {MIN_CONSOLE_TOKEN_CHARS} characters (e.g. openssl rand -hex 24)"
            )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        """Build settings from ``IOP_CDS_*`` variables, then apply keyword overrides."""
        environ = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            name = "IOP_CDS_" + f.name.upper()
            if name not in environ:
                continue
            raw = environ[name]
            default = f.default
            try:
                if isinstance(default, bool):
                    values[f.name] = _bool(raw)
                elif isinstance(default, int):
                    values[f.name] = int(raw)
                elif isinstance(default, float):
                    values[f.name] = float(raw)
                elif isinstance(default, tuple):
                    values[f.name] = _list(raw)
                else:
                    values[f.name] = raw
            except (ValueError, SettingsError) as exc:
                raise SettingsError(f"{name}: {exc}") from exc
        settings = cls(**values)
        return replace(settings, **overrides) if overrides else settings

    def public_base(self) -> str:
        """The service's public base URL: ``public_base_url``, else the bind address (only reachable locally)."""
        return self.public_base_url.rstrip("/") or f"http://{self.bind}"

    def attestation_launch_url(self) -> str:
        """Where the documentation card's SMART link points: the setting, else ``{public base}/attest/launch``."""
        return self.attestation_app_url or f"{self.public_base()}/attest/launch"

    def describe(self) -> dict[str, object]:
        """Settings as a plain dict, for the start-up log line (secrets shown as ``set``/``unset``)."""
        shown: dict[str, object] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            shown[f.name] = ("set" if value else "unset") if f.name in SECRET_SETTINGS else value
        return shown
