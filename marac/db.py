"""Engine, per-app-context session, declarative Base, UTC timestamps and SQLite pragmas."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

from flask import Flask, current_app, g
from sqlalchemy import Connection, DateTime, Engine, MetaData, String, create_engine, event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator
from werkzeug.local import LocalProxy

#: Execution option marking a connection whose transaction only reads (see _configure_sqlite).
READ_ONLY = "marac_read_only"

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base with constraint names Alembic batch mode can rely on."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned timezone-aware."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass a timezone-aware value")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def new_public_id() -> str:
    """A random identifier for URLs (never a sequence number)."""
    return str(uuid.uuid4())


def PublicId() -> Any:
    """Column type for public identifiers."""
    return String(36)


def utcnow() -> datetime:
    """The current time, from the app's injectable clock when one is configured."""
    try:
        clock = current_app.config.get("MARAC_CLOCK")
    except RuntimeError:
        clock = None
    if clock is not None:
        return cast(Callable[[], datetime], clock)()
    return datetime.now(UTC)


LONDON = ZoneInfo("Europe/London")


def london_today() -> date:
    """Today's date where the service's users are (Europe/London), from the injectable clock: a referral made just
    after midnight in summer is dated today, not yesterday in UTC."""
    return utcnow().astimezone(LONDON).date()


def _configure_sqlite(engine: Engine) -> None:
    """WAL, busy timeout, foreign keys; every transaction takes the write lock up front (BEGIN IMMEDIATE)."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Requests audit what they read, so nearly every unit of work writes: take the write lock up front, which
        # avoids a deferred reader failing to upgrade. Long read-only walks (audit verify, health) opt out.
        read_only = conn.get_execution_options().get(READ_ONLY, False)
        conn.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def _private_sqlite_file(url: str) -> None:
    """Create the SQLite file (and its folder) readable by the service account only; WAL files inherit the mode."""
    database = make_url(url).database
    if not database or database == ":memory:":
        return
    path = Path(database)
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine with the pragmas and pool settings each backend needs; SQL parameters never reach logs."""
    kwargs.setdefault("hide_parameters", True)
    if url.startswith("sqlite"):
        _private_sqlite_file(url)
        engine = create_engine(url, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, **kwargs)


def read_only_session() -> Session:
    """A separate session for a long read that writes nothing: on SQLite it does not hold the write lock."""
    factory = current_app.extensions["marac_sessionmaker"]
    session = cast(Session, factory())
    session.connection(execution_options={READ_ONLY: True})
    return session


def init_app(app: Flask, bind: Engine | Connection | None = None) -> None:
    """Attach an engine and session factory to the app; sessions close at the end of each app context.

    `bind` may be an open Connection (tests): sessions then join its transaction through savepoints, so a
    view's commit is real to the code under test and everything is rolled back after the test.
    """
    if bind is None:
        bind = make_engine(app.config["MARAC_DATABASE_URL"])
    app.extensions["marac_engine"] = bind.engine
    if isinstance(bind, Connection):
        factory = sessionmaker(bind=bind, expire_on_commit=False, join_transaction_mode="create_savepoint")
    else:
        factory = sessionmaker(bind=bind, expire_on_commit=False)
    app.extensions["marac_sessionmaker"] = factory

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session = g.pop("marac_session", None)
        if session is not None:
            session.close()


def get_session() -> Session:
    """The session for the current app context, created on first use."""
    if "marac_session" not in g:
        g.marac_session = current_app.extensions["marac_sessionmaker"]()
    return cast(Session, g.marac_session)


def get_engine() -> Engine:
    """The current app's engine."""
    return cast(Engine, current_app.extensions["marac_engine"])


#: The session of the current request, job or command.
session: Session = cast(Session, LocalProxy(get_session))
