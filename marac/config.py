"""Settings from MARAC_* environment variables; refuses unsafe production settings."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from datetime import time
from pathlib import Path
from typing import Any

ENVIRONMENTS = ("development", "test", "production")
MIN_SECRET_LENGTH = 32
#: Values that must never be used as secrets (examples from docs, placeholders).
KNOWN_BAD_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "development", "please-change-me"})


class ConfigError(RuntimeError):
    """A setting is missing or unsafe; the message names the setting."""


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = env.get(name)
    if value is None or value == "":
        return default
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {value!r}")


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _clock(env: Mapping[str, str], name: str, default: str) -> time:
    """A time of day written HH:MM (24-hour)."""
    raw = env.get(name, default).strip()
    hours, _, minutes = raw.partition(":")
    try:
        if len(hours) != 2 or len(minutes) != 2:
            raise ValueError(raw)
        return time(int(hours), int(minutes))
    except ValueError:
        raise ConfigError(f"{name} must be a time of day like 10:00, not {raw!r}") from None


def _dev_secret(instance: Path, filename: str) -> str:
    """Return a per-installation development secret kept in instance/ with mode 0600."""
    instance.mkdir(mode=0o700, parents=True, exist_ok=True)
    path = instance / filename
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _require_secret(env: Mapping[str, str], name: str, production: bool, instance: Path, filename: str) -> str:
    value = env.get(name, "")
    if production:
        if value.strip().lower() in KNOWN_BAD_SECRETS:
            raise ConfigError(
                f"{name} is missing or a placeholder: set it to a random value of {MIN_SECRET_LENGTH}+ chars"
            )
        if len(value) < MIN_SECRET_LENGTH:
            raise ConfigError(f"{name} is too short: use at least {MIN_SECRET_LENGTH} random characters")
        return value
    return value or _dev_secret(instance, filename)


def _master_key(env: Mapping[str, str], production: bool, instance: Path) -> str:
    """The master key that wraps the data keys: required in production, a 0600 file under instance/ otherwise."""
    from marac.crypto import generate_master_key, parse_master_key

    value = env.get("MARAC_MASTER_KEY", "").strip()
    if not value:
        if production:
            raise ConfigError(
                "MARAC_MASTER_KEY is missing: set it to 32 random bytes in base64 "
                "(`marac keys generate-master` prints one)"
            )
        instance.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = instance / "master.key"
        if not path.exists():
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(generate_master_key())
        value = path.read_text().strip()
    try:
        parse_master_key(value)
    except ValueError as exc:
        raise ConfigError(f"MARAC_MASTER_KEY is not usable: {exc}") from None
    return value


def _json_days(env: Mapping[str, str], name: str) -> dict[str, int]:
    """A JSON object of name -> whole days (0-90); which names are known is checked where they are used."""
    raw = env.get(name, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f'{name} must be a JSON object like {{"released_from_custody": 1}}') from exc
    if not isinstance(value, dict) or not all(
        isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= 90 for v in value.values()
    ):
        raise ConfigError(f"{name} must map each trigger to a whole number of days from 0 to 90")
    return value


# --- mail (issue 6): which backend delivers the outbox, and its settings --------------------------------------------
MAIL_BACKENDS = ("outbox", "smtp", "notify")
SMTP_TLS_MODES = ("starttls", "ssl", "none")
#: Notify API keys end with the service id and the secret, two UUIDs (36 characters each) joined by "-".
NOTIFY_KEY_MIN_LENGTH = 74
NOTIFY_BASE_URL = "https://api.notifications.service.gov.uk"


def _required(
    env: Mapping[str, str], names: tuple[str, ...], backend: str, setting: str = "MARAC_MAIL_BACKEND"
) -> None:
    for name in names:
        if not env.get(name, "").strip():
            raise ConfigError(f"{name} is missing: {setting}={backend} needs it")


def _mail_settings(env: Mapping[str, str], production: bool, instance: Path) -> dict[str, Any]:
    """The mail backend and its settings; refuses an unknown backend or one whose settings are missing."""
    backend = env.get("MARAC_MAIL_BACKEND", "outbox").strip().lower() or "outbox"
    if backend not in MAIL_BACKENDS:
        raise ConfigError(f"MARAC_MAIL_BACKEND must be one of {', '.join(MAIL_BACKENDS)}, got {backend!r}")
    tls = env.get("MARAC_SMTP_TLS", "starttls").strip().lower() or "starttls"
    if tls not in SMTP_TLS_MODES:
        raise ConfigError(f"MARAC_SMTP_TLS must be one of {', '.join(SMTP_TLS_MODES)}, got {tls!r}")
    if backend == "smtp":
        _required(env, ("MARAC_SMTP_HOST", "MARAC_SMTP_FROM"), backend)
        if env.get("MARAC_SMTP_USERNAME", "").strip():
            _required(env, ("MARAC_SMTP_PASSWORD",), backend)
        if production and tls == "none":
            raise ConfigError("MARAC_SMTP_TLS is none in production: use starttls or ssl")
    if backend == "notify":
        _required(env, ("MARAC_NOTIFY_API_KEY", "MARAC_NOTIFY_EMAIL_TEMPLATE_ID"), backend)
        if len(env["MARAC_NOTIFY_API_KEY"].strip()) < NOTIFY_KEY_MIN_LENGTH:
            raise ConfigError("MARAC_NOTIFY_API_KEY is not a Notify API key (name-service id-secret)")
    return {
        "MARAC_MAIL_BACKEND": backend,
        "MARAC_SMTP_HOST": env.get("MARAC_SMTP_HOST", "").strip(),
        "MARAC_SMTP_PORT": _int(env, "MARAC_SMTP_PORT", 587, minimum=1),
        "MARAC_SMTP_USERNAME": env.get("MARAC_SMTP_USERNAME", "").strip(),
        "MARAC_SMTP_PASSWORD": env.get("MARAC_SMTP_PASSWORD", ""),
        "MARAC_SMTP_TLS": tls,
        "MARAC_SMTP_FROM": env.get("MARAC_SMTP_FROM", "").strip(),
        "MARAC_SMTP_TIMEOUT_SECONDS": _int(env, "MARAC_SMTP_TIMEOUT_SECONDS", 30, minimum=1),
        "MARAC_NOTIFY_API_KEY": env.get("MARAC_NOTIFY_API_KEY", "").strip(),
        "MARAC_NOTIFY_BASE_URL": env.get("MARAC_NOTIFY_BASE_URL", "").strip() or NOTIFY_BASE_URL,
        "MARAC_NOTIFY_EMAIL_TEMPLATE_ID": env.get("MARAC_NOTIFY_EMAIL_TEMPLATE_ID", "").strip(),
        "MARAC_OUTBOX_MAX_ATTEMPTS": _int(env, "MARAC_OUTBOX_MAX_ATTEMPTS", 8, minimum=1),
        "MARAC_OUTBOX_LEASE_SECONDS": _int(env, "MARAC_OUTBOX_LEASE_SECONDS", 60, minimum=1),
        "MARAC_OUTBOX_DIR": env.get("MARAC_OUTBOX_DIR") or str(instance / "outbox"),
    }


# --- end mail --------------------------------------------------------------------------------------------------------


# --- text messages (issue 6): which backend delivers texts (SMS); "none" means text alerts are not offered ------------
SMS_BACKENDS = ("none", "outbox", "notify")


def _sms_settings(env: Mapping[str, str], production: bool) -> dict[str, Any]:
    """The SMS backend (default: outbox files in development and test, none in production) and its settings."""
    default = "none" if production else "outbox"
    backend = env.get("MARAC_SMS_BACKEND", default).strip().lower() or default
    if backend not in SMS_BACKENDS:
        raise ConfigError(f"MARAC_SMS_BACKEND must be one of {', '.join(SMS_BACKENDS)}, got {backend!r}")
    if backend == "notify":
        _required(env, ("MARAC_NOTIFY_API_KEY", "MARAC_NOTIFY_SMS_TEMPLATE_ID"), backend, "MARAC_SMS_BACKEND")
        if len(env["MARAC_NOTIFY_API_KEY"].strip()) < NOTIFY_KEY_MIN_LENGTH:
            raise ConfigError("MARAC_NOTIFY_API_KEY is not a Notify API key (name-service id-secret)")
    return {
        "MARAC_SMS_BACKEND": backend,
        "MARAC_NOTIFY_SMS_TEMPLATE_ID": env.get("MARAC_NOTIFY_SMS_TEMPLATE_ID", "").strip(),
    }


# --- end text messages -----------------------------------------------------------------------------------------------


def load_settings(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from MARAC_* variables, validating production safety."""
    env = os.environ if env is None else env
    environment = env.get("MARAC_ENV", "development").strip().lower()
    if environment not in ENVIRONMENTS:
        raise ConfigError(f"MARAC_ENV must be one of {', '.join(ENVIRONMENTS)}, got {environment!r}")
    production = environment == "production"
    instance = Path(env.get("MARAC_INSTANCE_PATH") or Path.cwd() / "instance").resolve()
    database_url = env.get("MARAC_DATABASE_URL") or f"sqlite:///{instance / 'marac.db'}"
    if database_url.startswith("postgresql://"):
        database_url = "postgresql+psycopg://" + database_url.removeprefix("postgresql://")
    tls = _bool(env, "MARAC_TLS", default=production)
    if production and not tls:
        raise ConfigError(
            "MARAC_TLS is off in production: users must reach the service over https (a TLS proxy is fine)"
        )
    settings: dict[str, Any] = {
        "MARAC_ENV": environment,
        "MARAC_INSTANCE_PATH": str(instance),
        "MARAC_DATABASE_URL": database_url,
        "SECRET_KEY": _require_secret(env, "MARAC_SECRET_KEY", production, instance, "secret.key"),
        "MARAC_AUDIT_KEY": _require_secret(env, "MARAC_AUDIT_KEY", production, instance, "audit.key"),
        "MARAC_MASTER_KEY": _master_key(env, production, instance),
        "MARAC_TLS": tls,
        "MARAC_SERVICE_NAME": env.get("MARAC_SERVICE_NAME", "MARAC"),
        "MAX_CONTENT_LENGTH": _int(env, "MARAC_MAX_CONTENT_LENGTH", 1024 * 1024, minimum=1024),
        "MARAC_SESSION_IDLE_MINUTES": _int(env, "MARAC_SESSION_IDLE_MINUTES", 30, minimum=1),
        "MARAC_SESSION_ABSOLUTE_HOURS": _int(env, "MARAC_SESSION_ABSOLUTE_HOURS", 12, minimum=1),
        "MARAC_LOCKOUT_THRESHOLD": _int(env, "MARAC_LOCKOUT_THRESHOLD", 5, minimum=1),
        "MARAC_LOCKOUT_BASE_MINUTES": _int(env, "MARAC_LOCKOUT_BASE_MINUTES", 5, minimum=1),
        "MARAC_LOCKOUT_MAX_MINUTES": _int(env, "MARAC_LOCKOUT_MAX_MINUTES", 60, minimum=1),
        "MARAC_PROXY_COUNT": _int(env, "MARAC_PROXY_COUNT", 0, minimum=0),
        "MARAC_ARGON2_TIME_COST": _int(env, "MARAC_ARGON2_TIME_COST", 3, minimum=1),
        "MARAC_ARGON2_MEMORY_KIB": _int(env, "MARAC_ARGON2_MEMORY_KIB", 65536, minimum=8),
        "MARAC_ARGON2_PARALLELISM": _int(env, "MARAC_ARGON2_PARALLELISM", 4, minimum=1),
        "RATELIMIT_STORAGE_URI": env.get("MARAC_RATELIMIT_STORAGE_URI", "memory://"),
        "MARAC_SIGNIN_RATE_LIMIT": env.get("MARAC_SIGNIN_RATE_LIMIT", "60 per minute;600 per hour"),
        "MARAC_LOG_LEVEL": env.get("MARAC_LOG_LEVEL", "INFO").upper(),
        "MARAC_REPEAT_WINDOW_MONTHS": _int(env, "MARAC_REPEAT_WINDOW_MONTHS", 12, minimum=1),
        "MARAC_SERIAL_VICTIMS": _int(env, "MARAC_SERIAL_VICTIMS", 2, minimum=2),
        "MARAC_BREAK_GLASS_HOURS": _int(env, "MARAC_BREAK_GLASS_HOURS", 4, minimum=1),
        "MARAC_TRIGGER_REVIEW_DAYS": _json_days(env, "MARAC_TRIGGER_REVIEW_DAYS"),
        "MARAC_PDF_WAIT_SECONDS": _int(env, "MARAC_PDF_WAIT_SECONDS", 10, minimum=1),
        "MARAC_DEMO_ACCOUNTS_FILE": str(instance / "demo-accounts.json"),
        # --- actions (issue 6): reminder before an action is due; escalation once it is this many days overdue --
        "MARAC_ACTION_REMINDER_WORKING_DAYS": _int(env, "MARAC_ACTION_REMINDER_WORKING_DAYS", 3, minimum=1),
        "MARAC_ACTION_ESCALATION_DAYS": _int(env, "MARAC_ACTION_ESCALATION_DAYS", 7, minimum=1),
        "MARAC_REVIEW_REMINDER_WORKING_DAYS": _int(env, "MARAC_REVIEW_REMINDER_WORKING_DAYS", 3, minimum=1),
        "MARAC_REVIEW_ESCALATION_DAYS": _int(env, "MARAC_REVIEW_ESCALATION_DAYS", 2, minimum=1),
        "MARAC_ENCOMPASS_ACKNOWLEDGE_BY": _clock(env, "MARAC_ENCOMPASS_ACKNOWLEDGE_BY", "10:00"),
        "MARAC_ENCOMPASS_RETENTION_DAYS": _int(env, "MARAC_ENCOMPASS_RETENTION_DAYS", 365, minimum=30),
        # --- end actions -----------------------------------------------------------------------------------------
        # --- scheduler (issue 6): the single-scheduler lock file (SQLite) and the heartbeat interval -----------
        "MARAC_SCHEDULER_LOCK_FILE": env.get("MARAC_SCHEDULER_LOCK_FILE") or str(instance / "scheduler.lock"),
        "MARAC_SCHEDULER_BEAT_SECONDS": _int(env, "MARAC_SCHEDULER_BEAT_SECONDS", 30, minimum=1),
        # --- end scheduler ---------------------------------------------------------------------------------------
        # --- mail (issue 6): see _mail_settings ------------------------------------------------------------------
        **_mail_settings(env, production, instance),
        # --- end mail --------------------------------------------------------------------------------------------
        # --- text messages (issue 6): see _sms_settings ------------------------------------------------------------
        **_sms_settings(env, production),
        # --- end text messages -----------------------------------------------------------------------------------
    }
    warnings = []
    if production and settings["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        warnings.append(
            "MARAC_RATELIMIT_STORAGE_URI is memory://: counters are per process; use redis:// with several servers"
        )
    if production and settings["MARAC_MAIL_BACKEND"] == "outbox":
        # A warning, not a refusal: some partnerships relay the files onwards themselves.
        warnings.append(
            "MARAC_MAIL_BACKEND is outbox: messages are written to files in MARAC_OUTBOX_DIR, not sent; "
            "relay the files onwards or use smtp or notify"
        )
    if production and settings["MARAC_SMS_BACKEND"] == "outbox":
        warnings.append("MARAC_SMS_BACKEND is outbox: texts are written to files in MARAC_OUTBOX_DIR, not sent")
    if warnings:
        settings["MARAC_WARNINGS"] = warnings
    return settings
