"""Migrations: the schema only through Alembic, and data steps that seal what was stored in plaintext."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import inspect, select, text

from marac import create_app, db
from marac.auth.models import User
from marac.db import make_engine
from marac.migrate import head_revision, upgrade
from tests.conftest import TEST_SETTINGS, create_test_database

PLAIN_SECRET = "JBSWY3DPEHPK3PXP"


def _database_at_0002_with_plaintext_totp(tmp_path: Path) -> tuple[str, object]:
    url, drop = create_test_database(tmp_path)
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade("0002", connection=conn, master_key=TEST_SETTINGS["MARAC_MASTER_KEY"])
        conn.execute(
            text(
                "INSERT INTO areas (public_id, name, is_active, created_at) VALUES "
                "('00000000-0000-4000-8000-000000000001', 'Area', true, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO agencies (public_id, name, kind, is_active, created_at) VALUES "
                "('00000000-0000-4000-8000-000000000002', 'Agency', 'police', true, CURRENT_TIMESTAMP)"
            )
        )
        conn.execute(
            text(
                "INSERT INTO users (public_id, email, display_name, agency_id, password_hash, is_active, "
                "must_change_password, failed_attempts, totp_secret, created_at) VALUES "
                "('00000000-0000-4000-8000-000000000003', 'a@example.org', 'A', "
                "(SELECT id FROM agencies), 'x', true, false, 0, :secret, CURRENT_TIMESTAMP)"
            ),
            {"secret": PLAIN_SECRET},
        )
    engine.dispose()
    return url, drop


def test_upgrade_seals_existing_totp_secrets_and_drops_the_plaintext(tmp_path: Path) -> None:
    url, drop = _database_at_0002_with_plaintext_totp(tmp_path)
    try:
        app = create_app({**TEST_SETTINGS, "MARAC_DATABASE_URL": url, "MARAC_INSTANCE_PATH": str(tmp_path)})
        with app.app_context():
            upgrade()
            columns = {c["name"] for c in inspect(db.get_engine()).get_columns("users")}
            assert "totp_secret" not in columns
            assert "totp_pending_secret" not in columns
            raw = db.session.execute(text("SELECT totp_secret_sealed FROM users")).scalar_one()
            assert PLAIN_SECRET.encode() not in bytes(raw)
            user = db.session.query(User).one()
            assert user.totp_secret == PLAIN_SECRET
            db.session.close()
            db.get_engine().dispose()
    finally:
        drop()


def test_sealing_step_refuses_to_run_without_the_master_key(tmp_path: Path) -> None:
    url, drop = _database_at_0002_with_plaintext_totp(tmp_path)
    engine = make_engine(url)
    try:
        with pytest.raises(RuntimeError, match="marac db upgrade"), engine.begin() as conn:
            upgrade("0003", connection=conn)
    finally:
        engine.dispose()
        drop()


def test_head_is_the_newest_revision() -> None:
    assert head_revision() == "0012"


def test_upgrade_loads_the_shipped_questionnaires(app: Flask) -> None:
    from marac.cases.models import Questionnaire

    loaded = db.session.scalars(select(Questionnaire.key).where(Questionnaire.is_active)).all()
    assert sorted(loaded) == ["dara-frequency", "dash-ric"]


def test_migrations_build_exactly_the_models_schema(engine: object) -> None:
    """Every model change comes with its migration: autogenerate finds nothing left to do at head."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    import marac.models  # noqa: F401 - registers every table
    from marac.db import Base

    with engine.connect() as conn:  # type: ignore[attr-defined]
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_upgrade_to_0007_counts_reviews_already_due_as_chased(tmp_path: Path) -> None:
    """The first scheduler run after the upgrade must not escalate every review ever missed."""
    url, drop = _database_at_0002_with_plaintext_totp(tmp_path)
    try:
        engine = make_engine(url)
        with engine.begin() as conn:
            upgrade("0006", connection=conn, master_key=TEST_SETTINGS["MARAC_MASTER_KEY"])
            conn.execute(
                text(
                    "INSERT INTO persons (public_id, kind, identity_key, created_at, updated_at) VALUES "
                    "('00000000-0000-4000-8000-000000000004', 'victim', 'k1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                )
            )
            conn.execute(
                text(
                    "INSERT INTO cases (public_id, reference, area_id, referring_agency_id, victim_id, referred_on, "
                    "status, created_at) VALUES ('00000000-0000-4000-8000-000000000005', 'MC-20-AAAAAA', "
                    "(SELECT id FROM areas), (SELECT id FROM agencies), (SELECT id FROM persons), '2020-01-01', "
                    "'open', CURRENT_TIMESTAMP)"
                )
            )
            for number, review_on in ((6, "2020-02-01"), (7, "2099-01-01")):
                conn.execute(
                    text(
                        "INSERT INTO safety_plans (public_id, case_id, owner_id, review_on, status, created_at) "
                        "VALUES (:public_id, (SELECT id FROM cases), "
                        "(SELECT id FROM users), :review_on, 'active', CURRENT_TIMESTAMP)"
                    ),
                    {"public_id": f"00000000-0000-4000-8000-00000000000{number}", "review_on": review_on},
                )
            upgrade("0007", connection=conn, master_key=TEST_SETTINGS["MARAC_MASTER_KEY"])
            rows = conn.execute(
                text("SELECT review_on, reminded_on IS NOT NULL, escalated_at IS NOT NULL FROM safety_plans")
            ).all()
        engine.dispose()
        chased = {str(review_on): (bool(reminded), bool(escalated)) for review_on, reminded, escalated in rows}
        assert chased == {"2020-02-01": (True, True), "2099-01-01": (False, False)}
    finally:
        drop()
