"""Queueing messages in the outbox. Written in the caller's transaction, so a message exists exactly when its event
does; the relay that delivers them comes with the scheduler (issue 6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from marac import db
from marac.notify.models import OutboxMessage

#: Every subject starts with the protective marking.
MARKING = "OFFICIAL-SENSITIVE"
#: Every body says only this: the content is in the platform, behind sign-in.
BODY = "You have a new MARAC notification: sign in to view.\n\nDo not reply to this message.\n"

#: Content-free subjects by kind of message.
SUBJECTS = {
    "agenda_published": "MARAC agenda published",
    "agenda_late_addition": "MARAC agenda changed",
    "research_reminder": "MARAC research reminder",
    "meeting_moved": "MARAC meeting moved",
    "meeting_cancelled": "MARAC meeting cancelled",
    "minutes_distributed": "MARAC minutes available",
    "action_reminder": "MARAC action due soon",
    "action_overdue_escalation": "MARAC action overdue",
    "action_updated": "MARAC action updated",
}


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (a calendar invite: never case content)."""

    name: str
    media_type: str
    content: bytes


def queue_message(recipient: Any, kind: str, key: str, attachment: Attachment | None = None) -> OutboxMessage | None:
    """Queue one content-free message to a user, once per `key` (None if it was already queued)."""
    idempotency_key = f"{kind}:{key}:{recipient.public_id}"
    if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == idempotency_key)):
        return None
    message = OutboxMessage(
        idempotency_key=idempotency_key,
        kind=kind,
        recipient_id=recipient.id,
        address=recipient.email,
        subject=f"{MARKING}: {SUBJECTS.get(kind, 'MARAC notification')}",
        body=BODY,
        attachment_name=attachment.name if attachment else None,
        attachment_type=attachment.media_type if attachment else None,
        attachment=attachment.content if attachment else None,
        next_attempt_at=db.utcnow(),
        created_at=db.utcnow(),
    )
    db.session.add(message)
    return message


def queue_to_all(recipients: list[Any], kind: str, key: str, attachment: Attachment | None = None) -> int:
    """Queue a message to each recipient; how many were queued."""
    queued = [queue_message(r, kind, key, attachment) for r in recipients]
    db.session.flush()
    return sum(m is not None for m in queued)


# --- the outbox's state, for admins (issue 6) ---------------------------------------------------------------------


@dataclass(frozen=True)
class OutboxSummary:
    """How many messages are in each state, and how long the oldest pending one has waited."""

    counts: dict[str, int]
    oldest_pending_at: datetime | None


def summarise_outbox() -> OutboxSummary:
    """Counts by status and the oldest pending message's queue time (no content)."""
    rows = db.session.execute(select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all()
    counts = {"pending": 0, "sent": 0, "dead": 0} | {status: int(count) for status, count in rows}
    oldest = db.session.scalar(select(func.min(OutboxMessage.created_at)).where(OutboxMessage.status == "pending"))
    return OutboxSummary(counts=counts, oldest_pending_at=oldest)


def count_dead_letters() -> int:
    """How many messages could not be delivered."""
    return int(db.session.scalar(select(func.count()).where(OutboxMessage.status == "dead")) or 0)


def list_dead_letters(limit: int = 200) -> list[OutboxMessage]:
    """The most recent dead letters, newest first."""
    query = select(OutboxMessage).where(OutboxMessage.status == "dead").order_by(OutboxMessage.dead_at.desc())
    return list(db.session.scalars(query.limit(limit)))
