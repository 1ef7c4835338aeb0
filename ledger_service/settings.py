"""Service settings, read once from the environment in the CLI / create_app() and passed down."""

from __future__ import annotations

import ipaddress
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic.alias_generators import to_camel
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from usage_ledger_contract import limits
from usage_ledger_contract.catalog import CATALOG, DECLARABLE_SOURCES, Catalog, EventType

# A fixed key keeps local runs and the demo working with nothing configured; `serve` refuses it
# (and an empty key list) on a non-loopback address, see Settings.check_safe_to_bind(). Being public, the
# development defaults are exempt from the strength rules below: their only protection is loopback.
DEV_INGEST_KEY = "dev-ingest-key"
DEV_SECRET_KEY = "dev-secret-key-change-me-please-0123456789"  # noqa: S105 - refused off loopback
# The admin key `usage-ledger demo` (make run) turns on when LEDGER_ADMIN_KEYS is not set, on loopback only.
DEV_ADMIN_KEY = "dev-admin-key"
# HS256 wants a key at least as long as its hash (RFC 7518 3.2: 256 bits); PyJWT warns below 32 bytes.
MIN_SECRET_KEY_BYTES = 32
# A bearer key guessed online: 16 random characters are ~96 bits; `secrets.token_urlsafe(24)` makes 32.
MIN_INGEST_KEY_CHARS = 16
_MIN_DISTINCT_CHARS = 8  # "aaaaaaaaaaaaaaaa" is long and still no secret
_PLACEHOLDER = "change-me"  # .env.example's values say this; they are examples, not secrets
_ROLE_NAME = r"^[a-z_][a-z0-9_]{0,62}$"  # = storage/roles.py NAME_PATTERN (settings sit below storage)


class DeclaredEventType(BaseModel):
    """An event type an operator adds for the app's own jobs (LEDGER_EVENT_TYPES, a JSON list of these)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True)

    source: Literal[DECLARABLE_SOURCES] = "system"  # type: ignore[valid-type]
    event_type: str
    unit: str
    label: str
    description: str = ""

    def entry(self) -> EventType:
        return EventType(self.source, self.event_type, self.unit, self.label, self.description)


class Settings(BaseSettings):
    """Every setting has an environment variable; names are listed in README.md and replit.md."""

    # Errors never echo what was given: some values are secrets (the messages say what is wrong instead).
    model_config = SettingsConfigDict(env_prefix="LEDGER_", extra="ignore", hide_input_in_errors=True)

    database_url: str | None = Field(default=None, validation_alias=AliasChoices("DATABASE_URL", "LEDGER_DATABASE_URL"))
    data_dir: Path = Path(".data")
    storage: Literal["auto", "timescaledb", "postgres"] = "auto"
    ingest_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=lambda: [SecretStr(DEV_INGEST_KEY)])
    # Bearer keys of the admin API (corrections, conflicts) and of `usage-ledger correct` / `import --backfill`:
    # none by default, which turns those off. Never an ingest key: a service that sends usage cannot rewrite it.
    admin_keys: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    secret_key: SecretStr = SecretStr(DEV_SECRET_KEY)
    host: str = "127.0.0.1"
    port: int = 8000
    # Link from a ledger row to its trace, e.g. http://localhost:16686/trace/{trace_id} (Jaeger's UI);
    # unset: rows show their trace id without a link.
    trace_url_template: str | None = Field(default=None, pattern=r"\{trace_id\}")

    # Event types of the app's own jobs, beside the contract's catalog (see replit.md, "How to add new
    # event types"): JSON, e.g. [{"eventType": "report_export", "unit": "report", "label": "Report exports"}].
    event_types: list[DeclaredEventType] = Field(default_factory=list)

    # Ingest limits (defaults from the contract). Each is named in the error a client gets when exceeded.
    max_batch_events: int = Field(default=limits.DEFAULT_MAX_BATCH_EVENTS, ge=1)
    max_body_bytes: int = Field(default=limits.DEFAULT_MAX_BODY_BYTES, ge=1024)
    max_metadata_bytes: int = Field(default=limits.DEFAULT_MAX_METADATA_BYTES, ge=2)
    max_metadata_depth: int = Field(default=limits.DEFAULT_MAX_METADATA_DEPTH, ge=1)
    late_window_days: int = Field(default=limits.DEFAULT_LATE_WINDOW_DAYS, ge=1)
    future_skew_seconds: int = Field(default=limits.DEFAULT_FUTURE_SKEW_SECONDS, ge=0)
    # Idempotency keys are kept this long after they were claimed; must exceed the late window so a
    # retry of any event the ledger would still accept is recognised.
    dedup_retention_days: int = Field(default=40, ge=1)
    # Monthly partitions (plain PostgreSQL) created ahead of the current month.
    partitions_ahead_months: int = Field(default=2, ge=0)
    pool_min_size: int = Field(default=2, ge=1)
    pool_max_size: int = Field(default=8, ge=1)
    # This ledger's database roles (storage/roles.py); unset: `<database>_ledger_reader` and so on. Lowercase
    # identifiers, as PostgreSQL folds them; fixed once a database has been migrated with them.
    reader_role: str | None = Field(default=None, pattern=_ROLE_NAME)
    writer_role: str | None = Field(default=None, pattern=_ROLE_NAME)
    analyst_role: str | None = Field(default=None, pattern=_ROLE_NAME)

    # The HTTP edge (ledger_service/server.py): connections held at once (past it, the one waiting longest
    # for its client is closed), and how long a request's head, then its body, may take to arrive.
    max_connections: int = Field(default=512, ge=8)
    header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    body_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)

    # Read side. Tenant read tokens are signed with secret_key; `usage-ledger token` defaults to this TTL.
    read_token_ttl_seconds: int = Field(default=3600, ge=60, le=31 * 86_400)
    summary_max_days: int = Field(default=366, ge=1)
    events_page_max: int = Field(default=200, ge=1)
    # TimescaleDB only (installed as background policies at start-up); 0 turns a policy off. Raw chunks
    # are compressed only once past the late window, and dropped (if ever: the ledger is the invoice
    # source) only after the aggregate refresh window, so a refresh never erases buckets.
    aggregate_refresh_minutes: int = Field(default=5, ge=1)
    compress_after_days: int = Field(default=45, ge=0)
    raw_retention_days: int = Field(default=0, ge=0)

    # Provider webhooks (POST /webhooks/...). Unset credentials: that endpoint refuses every request (403).
    twilio_auth_token: SecretStr | None = None
    # The public URL prefix Twilio calls (e.g. https://ledger.example.com) when a proxy sits in front: the
    # signature covers the URL exactly as Twilio requested it. Unset: the URL this service received.
    twilio_webhook_base_url: str | None = None
    # The Event Webhook's verification key (base64 DER, as SendGrid shows it) and the accepted signature age.
    sendgrid_webhook_public_key: str | None = None
    sendgrid_webhook_max_age_seconds: int = Field(default=300, ge=1, le=86_400)

    @field_validator("ingest_keys", "admin_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [k.strip() for k in value.split(",") if k.strip()]
        return value

    @field_validator("secret_key")
    @classmethod
    def _secret_key_is_strong(cls, value: SecretStr) -> SecretStr:
        secret = value.get_secret_value()
        if secret != DEV_SECRET_KEY and (problem := _weak(secret, MIN_SECRET_KEY_BYTES)):
            raise ValueError(f"LEDGER_SECRET_KEY {problem}")
        return value

    @field_validator("ingest_keys")
    @classmethod
    def _ingest_keys_are_strong(cls, value: list[SecretStr]) -> list[SecretStr]:
        for number, key in enumerate(value, start=1):
            text = key.get_secret_value()
            if text != DEV_INGEST_KEY and (problem := _weak(text, MIN_INGEST_KEY_CHARS)):
                raise ValueError(f"LEDGER_INGEST_KEYS: key {number} of {len(value)} {problem}")
        return value

    @field_validator("admin_keys")
    @classmethod
    def _admin_keys_are_strong_and_apart(cls, value: list[SecretStr], info: object) -> list[SecretStr]:
        ingest = {k.get_secret_value() for k in getattr(info, "data", {}).get("ingest_keys", [])}
        for number, key in enumerate(value, start=1):
            text = key.get_secret_value()
            if text != DEV_ADMIN_KEY and (problem := _weak(text, MIN_INGEST_KEY_CHARS)):
                raise ValueError(f"LEDGER_ADMIN_KEYS: key {number} of {len(value)} {problem}")
            if text in ingest:
                raise ValueError(f"LEDGER_ADMIN_KEYS: key {number} of {len(value)} is also an ingest key; use another")
        return value

    @field_validator("event_types")
    @classmethod
    def _event_types_fit_the_catalog(cls, value: list[DeclaredEventType]) -> list[DeclaredEventType]:
        CATALOG.with_types(t.entry() for t in value)  # raises ValueError naming the type that does not fit
        return value

    @field_validator("dedup_retention_days")
    @classmethod
    def _retention_covers_late_window(cls, value: int, info: object) -> int:
        late = getattr(info, "data", {}).get("late_window_days", 35)
        if value <= late:
            raise ValueError(f"must be greater than late_window_days ({late}) so retries stay deduplicated")
        return value

    @field_validator("compress_after_days", "raw_retention_days")
    @classmethod
    def _policies_spare_the_late_window(cls, value: int, info: object) -> int:
        # Compressing chunks that still take late inserts, or dropping raw rows the aggregate refresh
        # still covers (late window + 1 day), would slow ingest or erase aggregated usage.
        late = getattr(info, "data", {}).get("late_window_days", 35)
        if value and value <= late + 1:
            raise ValueError(f"must be 0 (off) or greater than late_window_days + 1 ({late + 1})")
        return value

    @cached_property
    def catalog(self) -> Catalog:
        """The contract's event types plus the declared ones: what this ledger accepts and shows."""
        return CATALOG.with_types(t.entry() for t in self.event_types)

    def ingest_key_values(self) -> list[str]:
        return [k.get_secret_value() for k in self.ingest_keys]

    def admin_key_values(self) -> list[str]:
        return [k.get_secret_value() for k in self.admin_keys]

    def with_demo_admin_key(self, host: str) -> Settings:
        """`usage-ledger demo` on loopback with no LEDGER_ADMIN_KEYS: the development admin key, so the
        README's corrections work against `make run`."""
        if "admin_keys" in self.model_fields_set or not _is_loopback(host):
            return self
        return self.model_copy(update={"admin_keys": [SecretStr(DEV_ADMIN_KEY)]})

    def check_safe_to_bind(self, host: str) -> None:
        """Refuse default or missing secrets when the service is reachable from other machines."""
        if _is_loopback(host):
            return
        keys = self.ingest_key_values()
        if not keys or DEV_INGEST_KEY in keys:
            raise ValueError(f"refusing to listen on {host}: set LEDGER_INGEST_KEYS to your own ingest keys")
        if self.secret_key.get_secret_value() == DEV_SECRET_KEY:
            raise ValueError(f"refusing to listen on {host}: set LEDGER_SECRET_KEY to a secret of your own")
        if DEV_ADMIN_KEY in self.admin_key_values():
            raise ValueError(f"refusing to listen on {host}: set LEDGER_ADMIN_KEYS to admin keys of your own")


def _weak(secret: str, minimum: int) -> str | None:
    """What makes `secret` too weak to protect a service others can reach, or None. Never shows the secret."""
    advice = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    if len(secret.encode("utf-8")) < minimum:
        return f"must be at least {minimum} characters long (it has {len(secret)}): {advice}"
    if len(set(secret)) < _MIN_DISTINCT_CHARS:
        return f"uses fewer than {_MIN_DISTINCT_CHARS} different characters: {advice}"
    if _PLACEHOLDER in secret.lower():
        return f"is a placeholder ({_PLACEHOLDER!r}): {advice}"
    if not secret.isprintable() or any(c.isspace() for c in secret):
        return "must not contain spaces or control characters"
    return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
