"""The notification centre: what each message is about, shown to its recipient behind sign-in."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from marac import db
from marac.notify.models import Notification
from marac.notify.services import queue_message, queue_messages

#: How many notifications the centre lists.
SHOWN = 100


def notify_user(user: Any, kind: str, key: str, text: str, link: str | None = None) -> Notification | None:
    """Queue a content-free message to the user and put what it is about in their notification centre, once per
    `key` (None if it was already sent)."""
    if queue_message(user, kind, key) is None:
        return None
    notification = Notification(user_id=user.id, kind=kind, link=link, created_at=db.utcnow())
    notification.text = text
    db.session.add(notification)
    db.session.flush()
    return notification


def notify_users(wanted: Sequence[tuple[Any, str, str, str, str | None]]) -> list[Notification | None]:
    """`notify_user` for many (user, kind, key, text, link) at once (a batch of intake): one read of what was already
    sent, one write."""
    queued = queue_messages([(user, kind, key) for user, kind, key, _text, _link in wanted])
    made: list[Notification | None] = []
    for message, (user, kind, _key, text, link) in zip(queued, wanted, strict=True):
        if message is None:
            made.append(None)
            continue
        notification = Notification(user_id=user.id, kind=kind, link=link, created_at=db.utcnow())
        notification.text = text
        made.append(notification)
    db.session.add_all([n for n in made if n is not None])
    db.session.flush()
    return made


def notifications_for(user: Any, limit: int = SHOWN) -> list[Notification]:
    """The user's notifications, newest first."""
    query = (
        select(Notification)
        .where(Notification.user_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
        .limit(limit)
    )
    return list(db.session.scalars(query))


def unread_count(user: Any) -> int:
    """How many of the user's notifications are unread."""
    query = select(func.count()).where(Notification.user_id == user.id, Notification.read_at.is_(None))
    return db.session.scalar(query) or 0


def get_notification(user: Any, public_id: str) -> Notification | None:
    """One of the user's own notifications (never another user's)."""
    query = select(Notification).where(Notification.public_id == public_id, Notification.user_id == user.id)
    return db.session.scalar(query)


def mark_read(notification: Notification) -> None:
    """Mark a notification read (the first time only)."""
    if notification.read_at is None:
        notification.read_at = db.utcnow()
