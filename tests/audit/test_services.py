"""The audit chain: record() links events, the database refuses changes, verify_chain() finds tampering."""

from __future__ import annotations

import itertools
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import Connection, delete, func, insert, select, update
from sqlalchemy.exc import DBAPIError

from marac import audit, db
from marac.access import Role
from marac.audit.models import AuditEvent
from tests.audit.conftest import disable_append_only
from tests.factories import make_user

EVENTS = AuditEvent.__table__


def last_seq() -> int:
    """The highest seq already in the chain (0 when empty)."""
    return db.session.scalar(select(func.max(AuditEvent.seq))) or 0


def record_events(count: int) -> list[AuditEvent]:
    """Append `count` events and commit them."""
    events = [
        audit.record("test.event", object_type="thing", object_id=f"thing-{i}", details={"i": i}) for i in range(count)
    ]
    db.session.commit()
    return events


def verify_fresh() -> tuple[int, audit.ChainProblem | None]:
    """verify_chain() reading what the database now holds, not objects cached in the session."""
    db.session.expire_all()
    return audit.verify_chain()


def test_record_builds_one_linked_chain(app: Flask) -> None:
    start = last_seq()
    events = record_events(5)

    rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.seq > start).order_by(AuditEvent.seq)))
    assert [r.seq for r in rows] == list(range(start + 1, start + 6))
    assert [r.id for r in rows] == [e.id for e in events]
    for previous, current in itertools.pairwise(rows):
        assert current.prev_hash == previous.hash
    assert len({r.hash for r in rows}) == 5
    if start == 0:
        assert rows[0].prev_hash == ""


def test_verify_chain_reports_no_problem_for_intact_chain(app: Flask) -> None:
    start = last_seq()
    record_events(6)
    assert verify_fresh() == (start + 6, None)


def test_verify_chain_on_empty_table_checks_nothing(app: Flask) -> None:
    if last_seq():
        pytest.skip("the shared database already holds events")
    assert verify_fresh() == (0, None)


def test_record_keeps_actor_agency_and_roles_at_the_time(app: Flask) -> None:
    account = make_user(Role.IDVA, Role.CHAIR)
    event = audit.record("case.viewed", actor=account.user, object_type="case", object_id="c-1", purpose="meeting")
    db.session.commit()

    stored = db.session.scalars(select(AuditEvent).where(AuditEvent.id == event.id)).one()
    assert (stored.actor_user_id, stored.agency_id) == (account.user.id, account.user.agency_id)
    assert stored.role == "chair,idva"
    assert (stored.action, stored.object_type, stored.object_id, stored.purpose) == (
        "case.viewed",
        "case",
        "c-1",
        "meeting",
    )
    assert stored.outcome == "success"


def test_record_refuses_unknown_outcome(app: Flask) -> None:
    start = last_seq()
    with pytest.raises(ValueError, match="unknown audit outcome"):
        audit.record("test.event", outcome="maybe")
    assert last_seq() == start


@pytest.mark.parametrize("statement", ["update", "delete"])
def test_database_refuses_update_and_delete_of_audit_events(app: Flask, connection: Connection, statement: str) -> None:
    start = last_seq()
    record_events(3)
    target = EVENTS.c.seq == start + 2
    change: Any = update(EVENTS).where(target).values(action="nothing.happened")
    if statement == "delete":
        change = delete(EVENTS).where(target)

    with pytest.raises(DBAPIError, match="append-only"), connection.begin_nested():
        connection.execute(change)

    assert connection.execute(select(EVENTS.c.action).where(target)).scalar_one() == "test.event"
    assert verify_fresh() == (start + 3, None)


@pytest.mark.parametrize(
    "changes",
    [
        {"action": "auth.sign_in"},
        {"details": {"i": 999}},
        {"outcome": "denied"},
        {"actor_user_id": None, "object_id": "someone-else"},
    ],
    ids=["action", "details", "outcome", "object"],
)
def test_verify_chain_names_altered_event(app: Flask, connection: Connection, changes: dict[str, Any]) -> None:
    start = last_seq()
    record_events(5)
    disable_append_only(connection)
    connection.execute(update(EVENTS).where(EVENTS.c.seq == start + 3).values(**changes))

    checked, problem = verify_fresh()

    assert problem is not None
    assert problem.seq == start + 3
    assert checked == start + 2
    assert "altered" in problem.reason
    assert f"event seq {start + 3}" in str(problem)


def test_verify_chain_names_event_after_deleted_row(app: Flask, connection: Connection) -> None:
    start = last_seq()
    record_events(5)
    disable_append_only(connection)
    connection.execute(delete(EVENTS).where(EVENTS.c.seq == start + 3))

    checked, problem = verify_fresh()

    assert problem is not None
    assert problem.seq == start + 4
    assert checked == start + 2
    assert f"expected seq {start + 3}" in problem.reason


def test_verify_chain_names_deleted_last_rows_only_by_count(app: Flask, connection: Connection) -> None:
    """Cutting the tail leaves a valid shorter chain: the count checked is what shows it."""
    start = last_seq()
    record_events(5)
    disable_append_only(connection)
    connection.execute(delete(EVENTS).where(EVENTS.c.seq > start + 3))
    assert verify_fresh() == (start + 3, None)


def forged_event(seq: int, prev_hash: str) -> dict[str, Any]:
    """A made-up event as an attacker without the chain key would write it."""
    last = db.session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(1)).one()
    return {
        "seq": seq,
        "occurred_at": last.occurred_at,
        "actor_user_id": None,
        "agency_id": None,
        "role": None,
        "action": "admin.user_created",
        "object_type": "user",
        "object_id": "forged",
        "purpose": None,
        "outcome": "success",
        "details": None,
        "prev_hash": prev_hash,
        "hash": "f" * 64,
    }


def test_verify_chain_names_forged_event_appended_at_the_end(app: Flask, connection: Connection) -> None:
    start = last_seq()
    events = record_events(4)
    # INSERT is allowed (the table is append-only), so no trigger has to be switched off.
    connection.execute(insert(EVENTS).values(**forged_event(start + 5, events[-1].hash)))

    checked, problem = verify_fresh()

    assert problem is not None
    assert (problem.seq, checked) == (start + 5, start + 4)
    assert "inserted" in problem.reason


def test_verify_chain_names_forged_event_inserted_in_the_middle(app: Flask, connection: Connection) -> None:
    start = last_seq()
    events = record_events(5)
    disable_append_only(connection)
    for seq in (start + 5, start + 4, start + 3):  # make room, highest first so seq stays unique
        connection.execute(update(EVENTS).where(EVENTS.c.seq == seq).values(seq=seq + 1))
    connection.execute(insert(EVENTS).values(**forged_event(start + 3, events[1].hash)))

    checked, problem = verify_fresh()

    assert problem is not None
    assert (problem.seq, checked) == (start + 3, start + 2)


def test_concurrent_writers_keep_one_contiguous_chain(committed_app: Flask) -> None:
    threads, per_thread = 8, 25
    barrier = threading.Barrier(threads, timeout=60)

    def write(thread: int) -> None:
        barrier.wait()
        for i in range(per_thread):
            with committed_app.app_context():
                audit.record("test.concurrent", object_type="thread", object_id=f"{thread}-{i}")
                db.session.commit()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        for result in [pool.submit(write, n) for n in range(threads)]:
            result.result()

    with committed_app.app_context():
        rows = list(db.session.execute(select(AuditEvent.seq, AuditEvent.object_id).order_by(AuditEvent.seq)))
        assert [r.seq for r in rows] == list(range(1, threads * per_thread + 1))
        assert len({r.object_id for r in rows}) == threads * per_thread
        assert audit.verify_chain() == (threads * per_thread, None)


def test_record_many_appends_in_order_to_the_same_chain(app: Flask) -> None:
    start = last_seq()
    audit.record("test.before", object_type="thing", object_id="0")
    written = audit.record_many(
        [audit.Event("test.batch", "thing", str(n), details={"n": n}) for n in range(1, 4)]
        + [audit.Event("test.batch", "thing", "4", outcome="failure")]
    )
    audit.record("test.after", object_type="thing", object_id="5")
    db.session.commit()
    rows = list(db.session.scalars(select(AuditEvent).where(AuditEvent.seq > start).order_by(AuditEvent.seq)))
    assert [r.object_id for r in rows] == ["0", "1", "2", "3", "4", "5"]
    assert [r.seq for r in rows] == list(range(start + 1, start + 7))
    assert [r.id for r in written] == [r.id for r in rows[1:5]]
    assert (rows[1].details, rows[4].outcome) == ({"n": 1}, "failure")
    for previous, current in itertools.pairwise(rows):
        assert current.prev_hash == previous.hash
    assert verify_fresh() == (start + 6, None)
    assert audit.record_many([]) == []
    with pytest.raises(ValueError, match="unknown audit outcome"):
        audit.record_many([audit.Event("test.bad", outcome="maybe")])
