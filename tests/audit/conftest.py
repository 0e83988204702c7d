"""Audit test helpers: what an attacker with DDL rights would do to tamper with the trail."""

from __future__ import annotations

from sqlalchemy import Connection, text


def disable_append_only(conn: Connection) -> None:
    """What an attacker with DDL rights would do first: switch off the append-only triggers."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"))
    else:
        conn.execute(text("DROP TRIGGER audit_events_no_update"))
        conn.execute(text("DROP TRIGGER audit_events_no_delete"))
