"""`marac audit verify` on a real committed database: exit 0 when intact, non-zero naming the bad event."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, update

from marac import audit, db
from marac.audit.models import AuditEvent
from tests.audit.conftest import disable_append_only

EVENTS = AuditEvent.__table__


def seed_chain(app: Flask, count: int) -> None:
    """Commit `count` events, one unit of work each, as requests would."""
    for i in range(count):
        with app.app_context():
            audit.record("test.event", object_type="thing", object_id=f"thing-{i}")
            db.session.commit()


def verify(app: Flask) -> Any:
    """Run the command as an operator would."""
    return app.test_cli_runner().invoke(args=["audit", "verify"])


def test_verify_command_exits_zero_on_intact_chain(committed_app: Flask) -> None:
    seed_chain(committed_app, 7)
    result = verify(committed_app)
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 7 events" in result.stdout


def test_verify_command_exits_zero_on_empty_trail(committed_app: Flask) -> None:
    result = verify(committed_app)
    assert result.exit_code == 0, result.output
    assert "audit chain intact: 0 events" in result.stdout


@pytest.mark.parametrize(
    ("tamper", "bad_seq", "verified_before"),
    [
        (update(EVENTS).where(EVENTS.c.seq == 4).values(action="nothing.happened"), 4, 3),
        (update(EVENTS).where(EVENTS.c.seq == 6).values(details={"note": "edited"}), 6, 5),
        (delete(EVENTS).where(EVENTS.c.seq == 2), 3, 1),
    ],
    ids=["altered-action", "altered-details", "deleted-row"],
)
def test_verify_command_fails_naming_first_bad_event(
    committed_app: Flask, tamper: Any, bad_seq: int, verified_before: int
) -> None:
    seed_chain(committed_app, 7)
    assert verify(committed_app).exit_code == 0
    with committed_app.app_context(), db.get_engine().begin() as conn:
        disable_append_only(conn)
        conn.execute(tamper)

    result = verify(committed_app)

    assert result.exit_code == 1
    assert f"audit chain broken at event seq {bad_seq} " in result.stderr
    assert f"{verified_before} events verified before it" in result.stderr
    assert "intact" not in result.output


def test_anchor_from_an_earlier_run_catches_a_cut_off_tail(committed_app: Flask) -> None:
    seed_chain(committed_app, 7)
    first = verify(committed_app)
    anchor = first.stdout.split("head anchor (keep a copy outside the database): ")[1].strip()
    assert anchor.startswith("7:")
    seed_chain(committed_app, 2)
    assert verify_with(committed_app, "--anchor", anchor).exit_code == 0
    with committed_app.app_context(), db.get_engine().begin() as conn:
        disable_append_only(conn)
        conn.execute(delete(EVENTS).where(EVENTS.c.seq >= 6))

    assert verify(committed_app).exit_code == 0  # a shorter chain still links up on its own ...
    result = verify_with(committed_app, "--anchor", anchor)  # ... but not against the recorded anchor
    assert result.exit_code == 1
    assert "audit chain broken at event seq 7: anchored event is missing: the chain was truncated" in result.stderr


def test_malformed_anchor_is_refused_with_usage_error(committed_app: Flask) -> None:
    result = verify_with(committed_app, "--anchor", "seven:abc")
    assert result.exit_code == 2
    assert "is not SEQ:HASH" in result.output


def verify_with(app: Flask, *extra: str) -> Any:
    """Run the command with extra options."""
    return app.test_cli_runner().invoke(args=["audit", "verify", *extra])
