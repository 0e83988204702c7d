"""Alembic environment: runs on the connection the application hands over (see marac.migrate)."""

from __future__ import annotations

from alembic import context

import marac.models  # noqa: F401 - registers every table on Base.metadata
from marac.db import Base

target_metadata = Base.metadata


def run_migrations_online() -> None:
    """Migrate on the connection given by marac.migrate.upgrade."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through `marac db upgrade`")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
