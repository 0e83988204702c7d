"""Throwaway benchmark databases: a SQLite file in a temp dir, or a `marac_bench_<random>` PostgreSQL database.

Each is built by the real migrations (which also create the first data keys) and removed afterwards unless kept.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flask import Flask
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from marac import create_app
from marac.crypto import generate_master_key, parse_master_key
from marac.db import get_engine
from marac.migrate import upgrade

DEFAULT_POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def postgres_url() -> str:
    """The server to create benchmark databases on (MARAC_BENCH_POSTGRES_URL, or the local default)."""
    return os.environ.get("MARAC_BENCH_POSTGRES_URL") or DEFAULT_POSTGRES_URL


def postgres_reachable(url: str) -> bool:
    """Whether a PostgreSQL server answers at `url`."""
    engine = create_engine(url, connect_args={"connect_timeout": 2})
    try:
        with engine.connect():
            return True
    except OperationalError:
        return False
    finally:
        engine.dispose()


@dataclass
class BenchDatabase:
    """A migrated, empty benchmark database and the app bound to it."""

    kind: str
    url: str
    app: Flask
    folder: Path

    @property
    def engine(self) -> Engine:
        """The app's engine."""
        with self.app.app_context():
            return get_engine()

    @property
    def master(self) -> bytes:
        """The master key the data keys are wrapped with."""
        return parse_master_key(self.app.config["MARAC_MASTER_KEY"])


@contextmanager
def bench_database(kind: str, *, keep: bool = False, server_url: str | None = None) -> Iterator[BenchDatabase]:
    """A fresh database of `kind` ("sqlite" or "postgres"), migrated; dropped on exit unless `keep`."""
    folder = Path(tempfile.mkdtemp(prefix="marac-bench-"))
    name = f"marac_bench_{secrets.token_hex(5)}"
    admin = None
    if kind == "sqlite":
        url = f"sqlite:///{folder / 'bench.db'}"
    else:
        admin = create_engine(make_url(server_url or postgres_url()), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        url = make_url(server_url or postgres_url()).set(database=name).render_as_string(hide_password=False)
    app = create_app(
        {
            "MARAC_ENV": "test",
            "MARAC_DATABASE_URL": url,
            "MARAC_INSTANCE_PATH": str(folder),
            "MARAC_MASTER_KEY": generate_master_key(),
            "SECRET_KEY": secrets.token_urlsafe(48),
            "MARAC_AUDIT_KEY": secrets.token_urlsafe(48),
            "MARAC_LOG_LEVEL": "WARNING",
        }
    )
    try:
        with app.app_context():
            upgrade()
        yield BenchDatabase(kind, url, app, folder)
    finally:
        app.extensions["marac_engine"].dispose()
        _clean_up(app, folder, keep, admin, name)


def _clean_up(app: Flask, folder: Path, keep: bool, admin: Engine | None, name: str) -> None:
    if keep:
        env = folder / "bench.env"
        env.write_text(
            f"MARAC_DATABASE_URL={app.config['MARAC_DATABASE_URL']}\nMARAC_MASTER_KEY={app.config['MARAC_MASTER_KEY']}\n"
        )
        env.chmod(0o600)
        print(f"  kept: {app.config['MARAC_DATABASE_URL']} (settings in {env})")
    else:
        shutil.rmtree(folder, ignore_errors=True)
    if admin is not None:
        if not keep:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
