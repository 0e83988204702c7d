"""Audit fixtures: a real committed database (for concurrent writers and the CLI) and a way to tamper."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import Connection, text

from marac import create_app
from tests.conftest import TEST_SETTINGS, create_test_database, migrated_engine


@pytest.fixture
def committed_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a fresh, migrated database whose commits are real (no rolled-back test transaction)."""
    url, drop = create_test_database(tmp_path)
    migrated_engine(url).dispose()
    application = create_app({**TEST_SETTINGS, "MARAC_INSTANCE_PATH": str(tmp_path), "MARAC_DATABASE_URL": url})
    yield application
    application.extensions["marac_engine"].dispose()
    drop()


def disable_append_only(conn: Connection) -> None:
    """What an attacker with DDL rights would do first: switch off the append-only triggers."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    else:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("DROP TRIGGER audit_events_no_delete"))
