"""The `marac` command line on real committed databases: users, db upgrade and the demo seed."""

from __future__ import annotations

import json
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, inspect, select, text

from marac import create_app, db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.auth import passwords
from marac.auth.models import AuthSession, User
from marac.migrate import current_revision, head_revision
from marac.orgs.models import Agency, AgencyKind, Area
from marac.orgs.services import save_agency, save_area
from tests.conftest import TEST_SETTINGS, create_test_database, migrated_engine

ACCOUNT_KEYS = {"email", "password", "totp_secret", "role", "agency"}


def app_on(url: str, instance: Path, **settings: Any) -> Flask:
    """The application on a committed database, as the `marac` command builds it."""
    return create_app({**TEST_SETTINGS, "MARAC_INSTANCE_PATH": str(instance), "MARAC_DATABASE_URL": url, **settings})


def run(app: Flask, *args: str) -> Any:
    """Invoke a `marac` command."""
    return app.test_cli_runner().invoke(args=list(args))


@pytest.fixture(scope="module")
def cli_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Flask]:
    """One migrated, committed database for this module, with an agency and two areas set up."""
    tmp = tmp_path_factory.mktemp("cli")
    url, drop = create_test_database(tmp)
    migrated_engine(url).dispose()
    app = app_on(url, tmp)
    with app.app_context():
        north, south = save_area(None, name="CLI North MARAC"), save_area(None, name="CLI South MARAC")
        save_agency(None, name="CLI Police", kind="police", areas=[north, south])
        db.session.commit()
    yield app
    app.extensions["marac_engine"].dispose()
    drop()


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all."""
    url, drop = create_test_database(tmp_path)
    yield url
    drop()


def user_by_email(app: Flask, email: str) -> User | None:
    """The account as committed (read in a fresh app context)."""
    with app.app_context():
        user = db.session.scalars(select(User).where(User.email == email)).one_or_none()
        if user is not None:
            _ = (user.role_names, [a.name for a in user.areas])  # load before the context closes
        return user


def events_for(app: Flask, action: str, user: User) -> list[AuditEvent]:
    """Committed audit events of an action on a user."""
    with app.app_context():
        query = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.object_id == user.public_id)
        return list(db.session.scalars(query))


def create(app: Flask, email: str, *extra: str) -> Any:
    """`marac users create` for a CLI Police idva."""
    return run(app, "users", "create", "--email", email, "--name", "Casey Line", "--agency", "CLI Police", *extra)


def temporary_password(output: str, prefix: str) -> str:
    """The password the command printed."""
    line = next(line for line in output.splitlines() if line.startswith(prefix))
    return line.removeprefix(prefix).strip()


# --- users ---------------------------------------------------------------------------------------------------------


def test_users_create_prints_temporary_password_and_saves_roles_and_areas(cli_app: Flask) -> None:
    result = create(
        cli_app, "Casey.Create@Example.org", "--role", "idva", "--role", "chair", "--area", "CLI North MARAC"
    )

    assert result.exit_code == 0, result.output
    secret = temporary_password(result.output, "created; temporary password:")
    user = user_by_email(cli_app, "casey.create@example.org")
    assert user is not None
    assert user.display_name == "Casey Line"
    assert user.role_names == ["chair", "idva"]
    assert [a.name for a in user.areas] == ["CLI North MARAC"]
    assert user.must_change_password
    assert user.totp_secret is None
    with cli_app.app_context():
        assert passwords.verify_password(user.password_hash, secret)
    [event] = events_for(cli_app, "admin.user_created", user)
    assert (event.actor_user_id, event.outcome) == (None, "success")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agency", "No Such Agency", "--role", "idva"], "no agency named 'No Such Agency'"),
        (["--role", "idva", "--area", "Atlantis MARAC"], "one or more areas do not exist"),
        (["--role", "wizard"], "Unknown role: wizard"),
        (["--role", "idva", "--email", "casey.taken@example.org"], "already exists"),
    ],
    ids=["unknown-agency", "unknown-area", "unknown-role", "duplicate-email"],
)
def test_users_create_refuses_bad_input_and_creates_nothing(cli_app: Flask, args: list[str], message: str) -> None:
    if not user_by_email(cli_app, "casey.taken@example.org"):
        assert create(cli_app, "casey.taken@example.org", "--role", "idva").exit_code == 0
    with cli_app.app_context():
        before = db.session.scalar(select(func.count()).select_from(User))

    result = create(cli_app, "casey.refused@example.org", *args)

    assert result.exit_code == 1
    assert message in result.output
    with cli_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == before


def test_users_disable_ends_sessions_and_is_audited(cli_app: Flask) -> None:
    assert create(cli_app, "casey.disable@example.org", "--role", "referrer").exit_code == 0
    with cli_app.app_context():
        user = db.session.scalars(select(User).where(User.email == "casey.disable@example.org")).one()
        now = db.utcnow()
        db.session.add(AuthSession(token_hash="a" * 64, user_id=user.id, created_at=now, mfa_at=now, last_seen_at=now))
        db.session.commit()

    result = run(cli_app, "users", "disable", "Casey.Disable@example.org")

    assert result.exit_code == 0, result.output
    assert "disabled; sessions ended" in result.output
    disabled = user_by_email(cli_app, "casey.disable@example.org")
    assert disabled is not None
    assert not disabled.is_active
    with cli_app.app_context():
        session = db.session.scalars(select(AuthSession).where(AuthSession.user_id == disabled.id)).one()
        assert (session.revoked_at is not None, session.revoked_reason) == (True, "account_disabled")
    assert len(events_for(cli_app, "admin.user_disabled", disabled)) == 1


def test_users_reset_issues_new_password_and_clears_authenticator(cli_app: Flask) -> None:
    assert create(cli_app, "casey.reset@example.org", "--role", "supervisor").exit_code == 0
    with cli_app.app_context():
        user = db.session.scalars(select(User).where(User.email == "casey.reset@example.org")).one()
        user.totp_secret, user.mfa_enrolled_at, user.must_change_password = "JBSWY3DPEHPK3PXP", db.utcnow(), False
        user.failed_attempts = 4
        db.session.commit()

    result = run(cli_app, "users", "reset", "casey.reset@example.org")

    assert result.exit_code == 0, result.output
    secret = temporary_password(result.output, "reset; temporary password:")
    reset = user_by_email(cli_app, "casey.reset@example.org")
    assert reset is not None
    assert (reset.totp_secret, reset.mfa_enrolled_at, reset.failed_attempts) == (None, None, 0)
    assert reset.must_change_password
    with cli_app.app_context():
        assert passwords.verify_password(reset.password_hash, secret)
    [event] = events_for(cli_app, "admin.user_reset", reset)
    assert event.details == {"mfa_cleared": True}


@pytest.mark.parametrize("command", ["disable", "reset"])
def test_users_commands_refuse_unknown_email(cli_app: Flask, command: str) -> None:
    result = run(cli_app, "users", command, "nobody@example.org")
    assert result.exit_code == 1
    assert "no account with that email address" in result.output


# --- db upgrade ----------------------------------------------------------------------------------------------------


def test_db_upgrade_builds_schema_on_empty_database_and_repeats_safely(empty_database: str, tmp_path: Path) -> None:
    app = app_on(empty_database, tmp_path)
    try:
        first = run(app, "db", "upgrade")
        second = run(app, "db", "upgrade")

        assert (first.exit_code, second.exit_code) == (0, 0), first.output + second.output
        assert "database at head" in first.output
        with app.app_context():
            assert current_revision() == head_revision()
            tables = set(inspect(db.session.connection()).get_table_names())
        assert {"areas", "agencies", "users", "user_roles", "auth_sessions", "audit_events"} <= tables
    finally:
        app.extensions["marac_engine"].dispose()


# --- demo ----------------------------------------------------------------------------------------------------------


def counts(app: Flask) -> dict[str, int]:
    """Rows in each seeded table."""
    with app.app_context():
        return {
            model.__tablename__: db.session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Area, Agency, User, AuditEvent)
        }


def test_demo_seed_only_seeds_every_kind_and_role_once(empty_database: str, tmp_path: Path) -> None:
    app = app_on(empty_database, tmp_path)
    accounts_file = Path(app.config["MARAC_DEMO_ACCOUNTS_FILE"])
    try:
        result = run(app, "demo", "--seed-only")

        assert result.exit_code == 0, result.output
        assert "seeded synthetic demo data" in result.output
        with app.app_context():
            assert {a.kind for a in db.session.scalars(select(Agency))} == {k.value for k in AgencyKind}
            assert len(db.session.scalars(select(Area)).all()) == 2
            users = list(db.session.scalars(select(User)))
            assert {r for u in users for r in u.role_names} == {r.value for r in Role}
            key_adults = [u for u in users if Role.KEY_ADULT.value in u.role_names]
            assert len(key_adults) >= 2
            schools = {u.agency.name for u in key_adults}
            assert len(schools) >= 2
            kinds = {u.agency.kind for u in key_adults}  # schools, and children's social care for home education
            assert kinds == {AgencyKind.EDUCATION.value, AgencyKind.CHILDRENS_SOCIAL_CARE.value}
            by_email = {u.email: (u.password_hash, u.totp_secret, u.must_change_password) for u in users}

        accounts = json.loads(accounts_file.read_text())
        assert isinstance(accounts, list)
        assert all(set(account) == ACCOUNT_KEYS for account in accounts)
        assert {a["email"] for a in accounts} == set(by_email)
        assert {a["role"] for a in accounts} == {r.value for r in Role}
        with app.app_context():
            for account in accounts:
                password_hash, totp_secret, must_change = by_email[account["email"]]
                assert passwords.verify_password(password_hash, account["password"])
                assert (totp_secret, must_change) == (account["totp_secret"], False)
        assert stat.S_IMODE(accounts_file.stat().st_mode) == 0o600
        for account in accounts:
            assert account["email"] in result.output
            assert account["password"] not in result.output
    finally:
        app.extensions["marac_engine"].dispose()


def test_demo_second_run_keeps_what_is_there(empty_database: str, tmp_path: Path) -> None:
    app = app_on(empty_database, tmp_path)
    accounts_file = Path(app.config["MARAC_DEMO_ACCOUNTS_FILE"])
    try:
        assert run(app, "demo", "--seed-only").exit_code == 0
        seeded, written = counts(app), accounts_file.read_bytes()

        again = run(app, "demo", "--seed-only")

        assert again.exit_code == 0, again.output
        assert "demo data already present: kept as it is" in again.output
        assert counts(app) == seeded
        assert accounts_file.read_bytes() == written
    finally:
        app.extensions["marac_engine"].dispose()


def test_demo_refuses_to_run_in_production(empty_database: str, tmp_path: Path) -> None:
    app = app_on(empty_database, tmp_path, MARAC_ENV="production")
    try:
        result = run(app, "demo", "--seed-only")

        assert result.exit_code == 1
        assert "never runs in production" in result.output
        assert not Path(app.config["MARAC_DEMO_ACCOUNTS_FILE"]).exists()
        assert inspect(app.extensions["marac_engine"]).get_table_names() == []
    finally:
        app.extensions["marac_engine"].dispose()


def test_demo_leaves_no_database_lock_while_it_serves(
    empty_database: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: a second `marac demo` kept its seeding session open, so on SQLite every request waited for a lock."""
    import waitress

    app = app_on(empty_database, tmp_path)
    written: list[bool] = []

    def serve_and_write(*_args: object, **_kwargs: object) -> None:
        # What the first request of the served app does: its own transaction, committed promptly.
        quick = {"connect_args": {"timeout": 2}} if empty_database.startswith("sqlite") else {}
        probe = create_engine(empty_database, **quick)
        with probe.begin() as conn:
            conn.execute(text("UPDATE areas SET is_active = is_active"))
        probe.dispose()
        written.append(True)

    monkeypatch.setattr(waitress, "serve", serve_and_write)
    try:
        assert run(app, "demo", "--seed-only").exit_code == 0
        result = run(app, "demo", "--port", "5099")  # the second run, which found data and kept it
        assert result.exit_code == 0, result.output
        assert written == [True]
    finally:
        app.extensions["marac_engine"].dispose()


def test_healthz_reports_unmigrated_database_as_unavailable(empty_database: str, tmp_path: Path) -> None:
    app = app_on(empty_database, tmp_path)
    try:
        before = app.test_client().get("/healthz")
        assert run(app, "db", "upgrade").exit_code == 0
        after = app.test_client().get("/healthz")

        assert (before.status_code, before.json) == (
            503,
            {
                "status": "unavailable",
                "database": True,
                "migrations_at_head": False,
                "scheduler": {"last_beat": None, "age_seconds": None, "healthy": False},
            },
        )
        assert (after.status_code, after.json) == (
            200,
            {
                "status": "ok",
                "database": True,
                "migrations_at_head": True,
                "scheduler": {"last_beat": None, "age_seconds": None, "healthy": False},
            },
        )
    finally:
        app.extensions["marac_engine"].dispose()


@pytest.mark.parametrize(
    ("email", "name", "message"),
    [
        ("not-an-email", "Sam Jones", "Enter an email address in the correct format"),
        ("sam@example.org", "x" * 121, "Enter a name of 1 to 120 characters"),
        ("sam@example.org", "   ", "Enter a name of 1 to 120 characters"),
    ],
    ids=["bad-email", "long-name", "blank-name"],
)
def test_users_create_checks_email_and_name(cli_app: Flask, email: str, name: str, message: str) -> None:
    with cli_app.app_context():
        before = db.session.scalar(select(func.count()).select_from(User))
    result = run(
        cli_app, "users", "create", "--email", email, "--name", name, "--agency", "CLI Police", "--role", "idva"
    )
    assert result.exit_code == 1
    assert message in result.output
    with cli_app.app_context():
        assert db.session.scalar(select(func.count()).select_from(User)) == before


# --- meetings ------------------------------------------------------------------------------------------------------


def test_meetings_generate_fills_each_patterns_three_months_once(cli_app: Flask) -> None:
    from datetime import date, time

    from marac.meetings.models import Meeting, MeetingPattern

    with cli_app.app_context():
        area = db.session.scalars(select(Area).where(Area.name == "CLI North MARAC")).one()
        pattern = MeetingPattern(
            area_id=area.id, frequency="weekly", weekday=1, starts_on=date(2026, 1, 1), start_time=time(9, 30)
        )
        db.session.add(pattern)
        db.session.commit()
    first = run(cli_app, "meetings", "generate")
    assert first.exit_code == 0, first.output
    made = int(first.output.split()[0])
    assert 12 <= made <= 14  # a Tuesday each week for 91 days
    again = run(cli_app, "meetings", "generate")
    assert again.output.startswith("0 meetings scheduled")
    with cli_app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Meeting).where(Meeting.area_id == area.id))
        db.session.delete(db.session.scalars(select(MeetingPattern)).one())
        for meeting in db.session.scalars(select(Meeting)):
            db.session.delete(meeting)
        db.session.commit()
    assert count == made
