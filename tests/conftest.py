"""Test fixtures: a real database built by the real migrations, each test in a rolled-back transaction.

SQLite by default; PostgreSQL when MARAC_TEST_DATABASE_URL is set (a throwaway database is created and dropped).
"""

from __future__ import annotations

import contextvars
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.engine import make_url

from marac import create_app
from marac.crypto import generate_master_key
from marac.db import make_engine
from marac.migrate import upgrade

TEST_SETTINGS: dict[str, Any] = {
    "MARAC_ENV": "test",
    "SECRET_KEY": "test-secret-key-" + "x" * 32,
    "MARAC_AUDIT_KEY": "test-audit-key-" + "y" * 32,
    "MARAC_MASTER_KEY": generate_master_key(),  # per test run: never a committed key
    "MARAC_ARGON2_TIME_COST": 1,
    "MARAC_ARGON2_MEMORY_KIB": 1024,
    "MARAC_ARGON2_PARALLELISM": 1,
    "MARAC_SIGNIN_RATE_LIMIT": "10000 per minute",
    "RATELIMIT_STORAGE_URI": "memory://",
}


class FakeClock:
    """An injectable clock: tests move time instead of sleeping."""

    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, **delta: float) -> datetime:
        """Move time forward by a timedelta's keyword arguments."""
        self.current += timedelta(**delta)
        return self.current


class IsolatedClient(FlaskClient):
    """Runs each request in a fresh context, as a server would: the test's own app context (and its `g`,
    database session and signed-in user) never leaks into the request, nor the request's into the test."""

    def open(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        return contextvars.Context().run(super().open, *args, **kwargs)


def _postgres_url() -> str | None:
    return os.environ.get("MARAC_TEST_DATABASE_URL") or None


def create_test_database(tmp_dir: Path) -> tuple[str, Any]:
    """A new empty database: a SQLite file, or a fresh PostgreSQL database. Returns (url, dropper)."""
    base = _postgres_url()
    if base is None:
        path = tmp_dir / f"marac-{uuid.uuid4().hex[:8]}.db"
        return f"sqlite:///{path}", lambda: None
    url = make_url(base).set(drivername="postgresql+psycopg")
    name = f"marac_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


def migrated_engine(url: str) -> Engine:
    """An engine on `url` with the schema built by the Alembic migrations."""
    engine = make_engine(url)
    with engine.begin() as conn:
        upgrade(connection=conn, master_key=TEST_SETTINGS["MARAC_MASTER_KEY"])
    return engine


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The session's database, migrated once."""
    url, drop = create_test_database(tmp_path_factory.mktemp("db"))
    engine = migrated_engine(url)
    engine.dispose()
    yield url
    drop()


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    """The session's engine."""
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    """A connection in a transaction that is rolled back after the test."""
    conn = engine.connect()
    transaction = conn.begin()
    yield conn
    transaction.rollback()
    conn.close()


@pytest.fixture
def clock() -> FakeClock:
    """Time for the test, starting on a Wednesday morning in November (UTC)."""
    return FakeClock(datetime(2026, 11, 25, 9, 0, tzinfo=UTC))


@pytest.fixture
def settings(tmp_path: Path, clock: FakeClock) -> dict[str, Any]:
    """App settings for one test; tests may change them before `app` is built."""
    return {**TEST_SETTINGS, "MARAC_INSTANCE_PATH": str(tmp_path), "MARAC_CLOCK": clock}


@pytest.fixture
def app(settings: dict[str, Any], connection: Connection) -> Iterator[Flask]:
    """The application bound to the test's rolled-back transaction, with an app context pushed."""
    application = create_app({**settings, "MARAC_DB_BIND": connection})
    application.test_client_class = IsolatedClient
    with application.app_context():
        yield application


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    """A browser-like test client."""
    return app.test_client()


@pytest.fixture
def committed_app(tmp_path: Path) -> Iterator[Flask]:
    """An app on a fresh, migrated database whose commits are real (for racing writers and the command line)."""
    url, drop = create_test_database(tmp_path)
    migrated_engine(url).dispose()
    application = create_app({**TEST_SETTINGS, "MARAC_INSTANCE_PATH": str(tmp_path), "MARAC_DATABASE_URL": url})
    yield application
    application.extensions["marac_engine"].dispose()
    drop()
