"""Queueing messages in the outbox. Written in the caller's transaction, so a message exists exactly when its event
does; the relay that delivers them comes with the scheduler (issue 6)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

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
