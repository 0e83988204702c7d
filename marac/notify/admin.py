"""Looking after the outbox: sending dead letters again once the cause (a full mailbox, a wrong address) is fixed.

A re-queued message keeps its idempotency key, so a message that was in fact delivered before it was given up on
is still recognised by a backend that can tell (the file backend) rather than sent twice.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update

from marac import audit, db
from marac.notify.models import OutboxMessage


class NotDeadLetter(Exception):
    """The message is not dead-lettered (already sent, waiting, or sent again by someone else): nothing to do."""


def get_outbox_message(public_id: str) -> OutboxMessage | None:
    """One outbox message by its public id."""
    return db.session.scalar(select(OutboxMessage).where(OutboxMessage.public_id == public_id))


def _requeue(message: OutboxMessage, actor: Any, now: datetime) -> bool:
    """Make one dead letter pending and due now, unless it is no longer dead; audit it (no personal data)."""
    public_id, kind = message.public_id, message.kind
    done = db.session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id == message.id, OutboxMessage.status == "dead")
        .values(status="pending", attempts=0, next_attempt_at=now, dead_at=None, claimed_until=None, last_error=None)
        .execution_options(synchronize_session=False)
    )
    if not getattr(done, "rowcount", 0):
        return False
    db.session.expire(message)  # read again from the database if anyone looks
    audit.record(
        "outbox.requeued",
        actor=actor,
        object_type="outbox_message",
        object_id=public_id,
        details={"kind": kind},
    )
    return True


def requeue_message(actor: Any, message: OutboxMessage, now: datetime) -> None:
    """Send one dead letter again: clear its dead-letter state, reset its attempts and make it due `now`."""
    if not _requeue(message, actor, now):
        raise NotDeadLetter(message.public_id)
    db.session.flush()


def requeue_dead_letters(actor: Any, now: datetime) -> int:
    """Send every dead letter again; how many were re-queued."""
    query = select(OutboxMessage).where(OutboxMessage.status == "dead").order_by(OutboxMessage.id)
    requeued = sum(_requeue(message, actor, now) for message in list(db.session.scalars(query)))
    db.session.flush()
    return requeued
