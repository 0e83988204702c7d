"""Queueing messages in the outbox. Written in the caller's transaction, so a message exists exactly when its event
does; the relay that delivers them comes with the scheduler (issue 6)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from marac import db
from marac.notify.models import OutboxMessage

#: Every subject starts with the protective marking.
MARKING = "OFFICIAL-SENSITIVE"
#: Every body says only this: the content is in the platform, behind sign-in.
BODY = "You have a new MARAC notification: sign in to view.\n\nDo not reply to this message.\n"
#: Every text says only this (no subject line on a phone, so the marking leads).
SMS_BODY = f"{MARKING}: You have a new MARAC notification: sign in to view."
#: Kinds urgent enough to be texted as well as emailed, to users who turned text alerts on.
TEXTED_KINDS = frozenset(
    {
        "action_overdue_escalation",
        "review_overdue_escalation",
        "encompass_notification",
        "encompass_escalation",
        "encompass_unresolved",
        "encompass_unresolved_overdue",
    }
)

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
    "action_update_request": "MARAC actions to report on",
    "review_reminder": "MARAC review due soon",
    "review_overdue_escalation": "MARAC review overdue",
    "encompass_notification": "Operation Encompass notification",
    "encompass_escalation": "Operation Encompass notification not yet acknowledged",
    "encompass_unresolved": "Operation Encompass notification to resolve",
    "encompass_unresolved_overdue": "Operation Encompass notification overdue: its setting is not known",
    "encompass_unresolved_daily": "Operation Encompass notification still waiting for its setting",
    "encompass_corrected": "Operation Encompass notification corrected",
    "encompass_withdrawn": "Operation Encompass notification withdrawn",
    "test_text": "MARAC test text",
    "mobile_code": "MARAC code to confirm your mobile number",
}


@dataclass(frozen=True)
class Attachment:
    """A file sent with a message (a calendar invite: never case content)."""

    name: str
    media_type: str
    content: bytes


def _email(recipient: Any, kind: str, key: str, attachment: Attachment | None = None) -> OutboxMessage:
    return OutboxMessage(
        idempotency_key=f"{kind}:{key}:{recipient.public_id}",
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


def _wants_texts(recipient: Any) -> bool:
    return bool(getattr(recipient, "text_alerts", False) and getattr(recipient, "mobile_number_enc", None))


def _text(recipient: Any, kind: str, key: str, body: str = SMS_BODY) -> OutboxMessage:
    return OutboxMessage(
        idempotency_key=f"sms:{kind}:{key}:{recipient.public_id}",
        kind=kind,
        channel="sms",
        recipient_id=recipient.id,
        address="sms",
        subject=f"{MARKING}: {SUBJECTS.get(kind, 'MARAC notification')}",
        body=body,
        next_attempt_at=db.utcnow(),
        created_at=db.utcnow(),
    )


def _queued(keys: list[str]) -> set[str]:
    found: set[str] = set()
    for start in range(0, len(keys), 500):
        query = select(OutboxMessage.idempotency_key).where(
            OutboxMessage.idempotency_key.in_(keys[start : start + 500])
        )
        found.update(db.session.scalars(query))
    return found


def queue_message(recipient: Any, kind: str, key: str, attachment: Attachment | None = None) -> OutboxMessage | None:
    """Queue one content-free email to a user, once per `key` (None if it was already queued); for an urgent kind
    (TEXTED_KINDS) also a text, when the user turned text alerts on."""
    message = _email(recipient, kind, key, attachment)
    if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == message.idempotency_key)):
        return None
    db.session.add(message)
    if kind in TEXTED_KINDS:
        queue_text(recipient, kind, key)
    return message


def queue_messages(wanted: list[tuple[Any, str, str]]) -> list[OutboxMessage | None]:
    """`queue_message` (without attachments) for many (recipient, kind, key) at once: one read of what is already
    queued and one write. Each entry's email, or None when it was already queued (or repeats an earlier entry)."""
    emails = [_email(recipient, kind, key) for recipient, kind, key in wanted]
    texts = [
        _text(recipient, kind, key) if kind in TEXTED_KINDS and _wants_texts(recipient) and texts_available() else None
        for recipient, kind, key in wanted
    ]
    seen = _queued([m.idempotency_key for m in emails] + [t.idempotency_key for t in texts if t is not None])
    queued: list[OutboxMessage | None] = []
    for email, text in zip(emails, texts, strict=True):
        if email.idempotency_key in seen:
            queued.append(None)
            continue
        seen.add(email.idempotency_key)
        db.session.add(email)
        queued.append(email)
        if text is not None and text.idempotency_key not in seen:
            seen.add(text.idempotency_key)
            db.session.add(text)
    return queued


def texts_available() -> bool:
    """True when a text (SMS) backend is configured, so text alerts can be offered."""
    return str(current_app.config.get("MARAC_SMS_BACKEND", "none")) != "none"


def queue_text(recipient: Any, kind: str, key: str, body: str = SMS_BODY) -> OutboxMessage | None:
    """Queue one content-free text to a user who turned text alerts on and gave a number, once per `key` (None if
    not wanted or already queued). The number is not copied: the relay reads the user's number when it sends."""
    if not (_wants_texts(recipient) and texts_available()):
        return None
    message = _text(recipient, kind, key, body)
    if db.session.scalar(select(OutboxMessage.id).where(OutboxMessage.idempotency_key == message.idempotency_key)):
        return None
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
