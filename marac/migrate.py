"""Alembic, driven from the application: the schema exists only through migrations."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.orm import Session

from marac import PROJECT_ROOT, db

MIGRATIONS = PROJECT_ROOT / "migrations"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic config pointing at migrations/, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def upgrade(revision: str = "head", connection: Connection | None = None) -> None:
    """Bring the schema up to `revision` on the app's database (or the given connection)."""
    if connection is not None:
        command.upgrade(alembic_config(connection), revision)
        return
    with db.get_engine().begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def head_revision() -> str | None:
    """The newest revision in migrations/."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current_revision(session: Session | None = None) -> str | None:
    """The revision the database is at (None when never migrated)."""
    return MigrationContext.configure((session or db.session).connection()).get_current_revision()
