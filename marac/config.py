"""Settings from MARAC_* environment variables; refuses unsafe production settings."""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
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
    }
    if production and settings["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        settings["MARAC_WARNINGS"] = [
            "MARAC_RATELIMIT_STORAGE_URI is memory://: counters are per process; use redis:// with several servers"
        ]
    return settings
