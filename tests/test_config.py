"""Settings: production refuses unsafe values and names them; development makes its own private secrets."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from marac import create_app
from marac.config import ConfigError, load_settings
from marac.crypto import generate_master_key

GOOD_SECRET = "s" * 48
GOOD_AUDIT_KEY = "a" * 48
GOOD_MASTER_KEY = generate_master_key()


def production(tmp_path: Path, **overrides: str) -> dict[str, str]:
    """A complete, safe production environment, with some values changed."""
    env = {
        "MARAC_ENV": "production",
        "MARAC_INSTANCE_PATH": str(tmp_path / "instance"),
        "MARAC_SECRET_KEY": GOOD_SECRET,
        "MARAC_AUDIT_KEY": GOOD_AUDIT_KEY,
        "MARAC_MASTER_KEY": GOOD_MASTER_KEY,
        "MARAC_DATABASE_URL": "postgresql://marac@db/marac",
    }
    env.update(overrides)
    return env


def test_safe_production_settings_load(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path))
    assert settings["SECRET_KEY"] == GOOD_SECRET
    assert settings["MARAC_AUDIT_KEY"] == GOOD_AUDIT_KEY
    assert settings["MARAC_TLS"] is True
    assert settings["MARAC_DATABASE_URL"] == "postgresql+psycopg://marac@db/marac"
    assert not (tmp_path / "instance").exists()  # production never writes secrets of its own


def test_defaults_match_the_documented_limits(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path))
    assert settings["MARAC_SESSION_IDLE_MINUTES"] == 30
    assert settings["MARAC_SESSION_ABSOLUTE_HOURS"] == 12
    assert settings["MARAC_LOCKOUT_THRESHOLD"] == 5
    assert settings["MAX_CONTENT_LENGTH"] == 1024 * 1024


@pytest.mark.parametrize("name", ["MARAC_SECRET_KEY", "MARAC_AUDIT_KEY"])
def test_production_refuses_a_missing_secret(tmp_path: Path, name: str) -> None:
    env = production(tmp_path)
    del env[name]
    with pytest.raises(ConfigError, match=name):
        load_settings(env)


@pytest.mark.parametrize("value", ["changeme", "CHANGE-ME", "secret", "  dev  ", "please-change-me", "   "])
@pytest.mark.parametrize("name", ["MARAC_SECRET_KEY", "MARAC_AUDIT_KEY"])
def test_production_refuses_a_placeholder_secret(tmp_path: Path, name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} is missing or a placeholder"):
        load_settings(production(tmp_path, **{name: value}))


@pytest.mark.parametrize("name", ["MARAC_SECRET_KEY", "MARAC_AUDIT_KEY"])
def test_production_refuses_a_short_secret(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=f"{name} is too short"):
        load_settings(production(tmp_path, **{name: "k" * 31}))
    assert load_settings(production(tmp_path, **{name: "k" * 32}))


def test_production_refuses_plain_http(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MARAC_TLS"):
        load_settings(production(tmp_path, MARAC_TLS="false"))


def test_a_yes_no_setting_that_is_neither_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MARAC_TLS must be true or false, got 'maybe'"):
        load_settings(production(tmp_path, MARAC_TLS="maybe"))


def test_proxy_count_is_read_and_checked(tmp_path: Path) -> None:
    assert load_settings(production(tmp_path, MARAC_PROXY_COUNT="1"))["MARAC_PROXY_COUNT"] == 1
    with pytest.raises(ConfigError, match="MARAC_PROXY_COUNT must be a whole number"):
        load_settings(production(tmp_path, MARAC_PROXY_COUNT="one"))


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("MARAC_SESSION_IDLE_MINUTES", "thirty", "MARAC_SESSION_IDLE_MINUTES must be a whole number, got 'thirty'"),
        ("MARAC_SESSION_IDLE_MINUTES", "0", "MARAC_SESSION_IDLE_MINUTES must be at least 1, got 0"),
        ("MARAC_SESSION_ABSOLUTE_HOURS", "12.5", "MARAC_SESSION_ABSOLUTE_HOURS must be a whole number"),
        ("MARAC_LOCKOUT_THRESHOLD", "-1", "MARAC_LOCKOUT_THRESHOLD must be at least 1"),
        ("MARAC_MAX_CONTENT_LENGTH", "10", "MARAC_MAX_CONTENT_LENGTH must be at least 1024"),
        ("MARAC_ARGON2_MEMORY_KIB", "lots", "MARAC_ARGON2_MEMORY_KIB must be a whole number"),
    ],
)
def test_bad_numbers_are_named(tmp_path: Path, name: str, value: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(production(tmp_path, **{name: value}))


def test_numbers_are_read(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path, MARAC_SESSION_IDLE_MINUTES="15", MARAC_LOCKOUT_THRESHOLD="3"))
    assert (settings["MARAC_SESSION_IDLE_MINUTES"], settings["MARAC_LOCKOUT_THRESHOLD"]) == (15, 3)


def test_unknown_environment_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MARAC_ENV must be one of development, test, production"):
        load_settings({"MARAC_ENV": "staging", "MARAC_INSTANCE_PATH": str(tmp_path)})


def test_production_warns_about_per_process_rate_limits(tmp_path: Path) -> None:
    warnings = load_settings(production(tmp_path))["MARAC_WARNINGS"]
    assert any(w.startswith("MARAC_RATELIMIT_STORAGE_URI is memory://") for w in warnings)
    settings = load_settings(production(tmp_path, **SMTP, MARAC_RATELIMIT_STORAGE_URI="redis://cache:6379"))
    assert "MARAC_WARNINGS" not in settings


# --- development -----------------------------------------------------------------------------------------------------


def test_development_makes_private_secrets_in_the_instance_folder(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    settings = load_settings({"MARAC_ENV": "development", "MARAC_INSTANCE_PATH": str(instance)})

    secret_file, audit_file = instance / "secret.key", instance / "audit.key"
    assert stat.S_IMODE(secret_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(audit_file.stat().st_mode) == 0o600
    assert settings["SECRET_KEY"] == secret_file.read_text().strip()
    assert settings["MARAC_AUDIT_KEY"] == audit_file.read_text().strip()
    assert len(settings["SECRET_KEY"]) >= 32
    assert settings["SECRET_KEY"] != settings["MARAC_AUDIT_KEY"]
    assert settings["MARAC_TLS"] is False
    assert settings["MARAC_DATABASE_URL"] == f"sqlite:///{instance.resolve() / 'marac.db'}"


def test_development_secrets_stay_the_same_across_restarts(tmp_path: Path) -> None:
    env = {"MARAC_ENV": "development", "MARAC_INSTANCE_PATH": str(tmp_path)}
    first, second = load_settings(env), load_settings(env)
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert first["MARAC_AUDIT_KEY"] == second["MARAC_AUDIT_KEY"]


def test_development_uses_a_secret_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {"MARAC_ENV": "development", "MARAC_INSTANCE_PATH": str(tmp_path), "MARAC_SECRET_KEY": "short-dev-key"}
    )
    assert settings["SECRET_KEY"] == "short-dev-key"
    assert not (tmp_path / "secret.key").exists()


def test_production_refuses_to_start_without_a_master_key(tmp_path: Path) -> None:
    env = production(tmp_path)
    del env["MARAC_MASTER_KEY"]
    with pytest.raises(ConfigError, match="MARAC_MASTER_KEY is missing"):
        load_settings(env)
    assert not (tmp_path / "instance").exists()  # and never makes one of its own


@pytest.mark.parametrize(
    ("value", "problem"),
    [("not base64 at all!", "not base64"), ("c2hvcnQ", "32 random bytes"), ("A" * 43, "not random")],
)
def test_a_master_key_that_is_not_32_random_bytes_is_refused(tmp_path: Path, value: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=f"MARAC_MASTER_KEY is not usable: .*{problem}"):
        load_settings(production(tmp_path, MARAC_MASTER_KEY=value))


def test_development_generates_a_private_master_key_file_once(tmp_path: Path) -> None:
    env = {"MARAC_ENV": "development", "MARAC_INSTANCE_PATH": str(tmp_path / "instance")}
    first = load_settings(env)
    key_file = tmp_path / "instance" / "master.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert first["MARAC_MASTER_KEY"] == key_file.read_text().strip()
    assert load_settings(env)["MARAC_MASTER_KEY"] == first["MARAC_MASTER_KEY"]


def test_trigger_review_days_are_read_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path, MARAC_TRIGGER_REVIEW_DAYS='{"released_from_custody": 0}'))
    assert settings["MARAC_TRIGGER_REVIEW_DAYS"] == {"released_from_custody": 0}


@pytest.mark.parametrize("value", ["not json", "[1]", '{"court_date": 91}', '{"court_date": true}'])
def test_bad_trigger_review_days_refuse_to_start_naming_the_setting(tmp_path: Path, value: str) -> None:
    with pytest.raises(ConfigError, match="MARAC_TRIGGER_REVIEW_DAYS"):
        load_settings(production(tmp_path, MARAC_TRIGGER_REVIEW_DAYS=value))


# --- mail backends (issue 6) ------------------------------------------------------------------------------------------

NOTIFY_KEY = "marac_live-" + "1" * 36 + "-" + "2" * 36
SMTP = {"MARAC_MAIL_BACKEND": "smtp", "MARAC_SMTP_HOST": "mail.example", "MARAC_SMTP_FROM": "marac@example.org"}
NOTIFY = {"MARAC_MAIL_BACKEND": "notify", "MARAC_NOTIFY_API_KEY": NOTIFY_KEY, "MARAC_NOTIFY_EMAIL_TEMPLATE_ID": "t-1"}


def test_mail_defaults_to_the_outbox_folder_under_instance(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path))
    assert settings["MARAC_MAIL_BACKEND"] == "outbox"
    assert settings["MARAC_OUTBOX_DIR"] == str((tmp_path / "instance" / "outbox").resolve())
    assert settings["MARAC_OUTBOX_MAX_ATTEMPTS"] == 8
    assert settings["MARAC_OUTBOX_LEASE_SECONDS"] == 60


def test_smtp_settings_are_read_with_starttls_on_port_587_by_default(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path, **SMTP, MARAC_SMTP_USERNAME="relay", MARAC_SMTP_PASSWORD="pw"))
    assert (settings["MARAC_SMTP_HOST"], settings["MARAC_SMTP_PORT"], settings["MARAC_SMTP_TLS"]) == (
        "mail.example",
        587,
        "starttls",
    )
    assert (settings["MARAC_SMTP_USERNAME"], settings["MARAC_SMTP_PASSWORD"]) == ("relay", "pw")


def test_notify_settings_are_read_with_the_public_api_by_default(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path, **NOTIFY))
    assert settings["MARAC_NOTIFY_BASE_URL"] == "https://api.notifications.service.gov.uk"
    assert settings["MARAC_NOTIFY_EMAIL_TEMPLATE_ID"] == "t-1"


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"MARAC_MAIL_BACKEND": "pigeon"}, "MARAC_MAIL_BACKEND"),
        ({**SMTP, "MARAC_SMTP_HOST": ""}, "MARAC_SMTP_HOST"),
        ({**SMTP, "MARAC_SMTP_FROM": ""}, "MARAC_SMTP_FROM"),
        ({**SMTP, "MARAC_SMTP_USERNAME": "relay"}, "MARAC_SMTP_PASSWORD"),
        ({**SMTP, "MARAC_SMTP_TLS": "sometimes"}, "MARAC_SMTP_TLS"),
        ({**SMTP, "MARAC_SMTP_PORT": "smtp"}, "MARAC_SMTP_PORT"),
        ({**NOTIFY, "MARAC_NOTIFY_API_KEY": ""}, "MARAC_NOTIFY_API_KEY"),
        ({**NOTIFY, "MARAC_NOTIFY_API_KEY": "too-short"}, "MARAC_NOTIFY_API_KEY"),
        ({**NOTIFY, "MARAC_NOTIFY_EMAIL_TEMPLATE_ID": ""}, "MARAC_NOTIFY_EMAIL_TEMPLATE_ID"),
        ({"MARAC_OUTBOX_MAX_ATTEMPTS": "0"}, "MARAC_OUTBOX_MAX_ATTEMPTS"),
    ],
)
def test_an_unknown_backend_or_missing_settings_refuse_to_start_naming_the_setting(
    tmp_path: Path, overrides: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(production(tmp_path, **overrides))


def test_smtp_without_tls_is_refused_in_production_but_allowed_in_development(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="MARAC_SMTP_TLS"):
        load_settings(production(tmp_path, **SMTP, MARAC_SMTP_TLS="none"))
    settings = load_settings({"MARAC_INSTANCE_PATH": str(tmp_path), **SMTP, "MARAC_SMTP_TLS": "none"})
    assert settings["MARAC_SMTP_TLS"] == "none"


def test_production_with_the_file_backend_warns_that_messages_are_not_sent(tmp_path: Path) -> None:
    redis = {"MARAC_RATELIMIT_STORAGE_URI": "redis://cache:6379"}
    (warning,) = load_settings(production(tmp_path, **redis))["MARAC_WARNINGS"]
    assert warning.startswith("MARAC_MAIL_BACKEND is outbox: messages are written to files")
    assert "not sent" in warning
    assert "MARAC_WARNINGS" not in load_settings(production(tmp_path, **redis, **NOTIFY))
    assert "MARAC_WARNINGS" not in load_settings({"MARAC_INSTANCE_PATH": str(tmp_path), "MARAC_ENV": "development"})


def test_the_file_backend_warning_is_logged_at_start_and_the_app_still_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in production(tmp_path, MARAC_RATELIMIT_STORAGE_URI="redis://cache:6379").items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("MARAC_MAIL_BACKEND", raising=False)
    app = create_app()
    assert app.config["MARAC_MAIL_BACKEND"] == "outbox"
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    (event,) = [e for e in logged if e.get("event") == "unsafe_setting"]
    assert event["level"] == "warning"
    assert "messages are written to files in MARAC_OUTBOX_DIR, not sent" in event["detail"]


# --- text messages (issue 6) ------------------------------------------------------------------------------------------

SMS_NOTIFY = {"MARAC_SMS_BACKEND": "notify", "MARAC_NOTIFY_API_KEY": NOTIFY_KEY, "MARAC_NOTIFY_SMS_TEMPLATE_ID": "s-1"}


def test_texts_go_to_files_in_development_and_are_off_in_production_by_default(tmp_path: Path) -> None:
    assert load_settings({"MARAC_INSTANCE_PATH": str(tmp_path)})["MARAC_SMS_BACKEND"] == "outbox"
    assert load_settings(production(tmp_path))["MARAC_SMS_BACKEND"] == "none"


def test_notify_text_settings_are_read(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path, **SMS_NOTIFY))
    assert (settings["MARAC_SMS_BACKEND"], settings["MARAC_NOTIFY_SMS_TEMPLATE_ID"]) == ("notify", "s-1")
    assert settings["MARAC_MAIL_BACKEND"] == "outbox"  # email and texts are chosen separately


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"MARAC_SMS_BACKEND": "pigeon"}, "MARAC_SMS_BACKEND must be one of none, outbox, notify"),
        ({**SMS_NOTIFY, "MARAC_NOTIFY_SMS_TEMPLATE_ID": ""}, "MARAC_NOTIFY_SMS_TEMPLATE_ID is missing"),
        ({**SMS_NOTIFY, "MARAC_NOTIFY_API_KEY": ""}, "MARAC_NOTIFY_API_KEY is missing: MARAC_SMS_BACKEND=notify"),
        ({**SMS_NOTIFY, "MARAC_NOTIFY_API_KEY": "too-short"}, "MARAC_NOTIFY_API_KEY is not a Notify API key"),
    ],
)
def test_an_unknown_text_backend_or_missing_notify_settings_refuse_to_start_naming_the_setting(
    tmp_path: Path, overrides: dict[str, str], named: str
) -> None:
    with pytest.raises(ConfigError, match=named):
        load_settings(production(tmp_path, **overrides))
    with pytest.raises(ConfigError, match=named):
        load_settings({"MARAC_INSTANCE_PATH": str(tmp_path), **overrides})


def test_production_with_texts_written_to_files_warns_that_they_are_not_sent(tmp_path: Path) -> None:
    env = production(tmp_path, **NOTIFY, MARAC_RATELIMIT_STORAGE_URI="redis://cache:6379", MARAC_SMS_BACKEND="outbox")
    (warning,) = load_settings(env)["MARAC_WARNINGS"]
    assert warning == "MARAC_SMS_BACKEND is outbox: texts are written to files in MARAC_OUTBOX_DIR, not sent"
