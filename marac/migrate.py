"""Alembic, driven from the application: the schema exists only through migrations."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import current_app, has_app_context
from sqlalchemy import Connection, inspect
from sqlalchemy.orm import Session

from marac import PROJECT_ROOT, db
from marac.crypto import ensure_keys, parse_master_key

MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(connection: Connection | None = None, master_key: str | None = None) -> Config:
    """An Alembic config pointing at migrations/, optionally bound to an open connection and given the master key
    (for data steps that seal values)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    if master_key is not None:
        config.attributes["master_key"] = master_key
    return config


def upgrade(revision: str = "head", connection: Connection | None = None, master_key: str | None = None) -> None:
    """Bring the schema up to `revision` on the app's database (or the given connection), then make sure the
    first data keys exist, wrapped by the master key (the app's, or `master_key`)."""
    if connection is not None:
        _upgrade_on(connection, revision, master_key)
        return
    with db.get_engine().begin() as conn:
        _upgrade_on(conn, revision, master_key)


def _upgrade_on(connection: Connection, revision: str, master_key: str | None) -> None:
    if master_key is None and has_app_context():
        master_key = current_app.config["MARAC_MASTER_KEY"]
    command.upgrade(alembic_config(connection, master_key), revision)
    if master_key is None or not inspect(connection).has_table("data_keys"):
        return
    with Session(bind=connection, join_transaction_mode="create_savepoint") as session:
        ensure_keys(session, parse_master_key(master_key))
        if inspect(connection).has_table("questionnaires"):
            from marac.cases.questionnaires import ensure_builtin_questionnaires

            ensure_builtin_questionnaires(session)
        session.commit()


def head_revision() -> str | None:
    """The newest revision in migrations/."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(session: Session | None = None) -> str | None:
    """The revision the database is at (None when never migrated)."""
    return MigrationContext.configure((session or db.session).connection()).get_current_revision()
