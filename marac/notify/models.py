"""The outbox: each message to send, written in the same transaction as the event that caused it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from marac.crypto import TEXT, Encrypted
from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow


class OutboxMessage(Base):
    """One message to one recipient. Bodies never carry personal or case content; the platform holds that."""

    __tablename__ = "outbox_messages"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: Unique per message, so a retry after a crash never sends twice where the backend can tell.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    #: What caused it (for example "agenda_published").
    kind: Mapped[str] = mapped_column(String(40), index=True)
    #: "email" or "sms" (a text: sent to the recipient's mobile number as it is at send time).
    channel: Mapped[str] = mapped_column(String(10), default="email", server_default="email")
    #: The user it is for.
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: Where it goes: the user's email when queued; "sms" for a text (the number is never copied here).
    address: Mapped[str] = mapped_column(String(254))
    #: Subject, starting with the protective marking.
    subject: Mapped[str] = mapped_column(String(200))
    #: Content-free body.
    body: Mapped[str] = mapped_column(Text)
    #: Attachment file name (a calendar invite), if any.
    attachment_name: Mapped[str | None] = mapped_column(String(100))
    #: Attachment media type.
    attachment_type: Mapped[str | None] = mapped_column(String(100))
    #: Attachment bytes (never case content).
    attachment: Mapped[bytes | None] = mapped_column(LargeBinary)
    #: "pending", "sent", "dead" or "skipped" (a text whose recipient no longer has a number or text alerts).
    status: Mapped[str] = mapped_column(String(10), default="pending", index=True)
    #: Attempts made.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: When next due to be tried.
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    #: When queued.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When sent.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The last failure (no message content).
    last_error: Mapped[str | None] = mapped_column(String(300))
    #: While a relay holds the message: until when its claim lasts (a crashed relay's claim runs out).
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When it was given up on (dead-lettered) after too many attempts or a rejected address.
    dead_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: The backend's own reference for the message (a Notify id, an SMTP Message-ID, a file name).
    provider_reference: Mapped[str | None] = mapped_column(String(200))

    def __repr__(self) -> str:
        return f"<OutboxMessage {self.public_id} {self.kind} {self.status}>"


class Notification(Base):
    """What a message is about, for its recipient's notification centre (behind sign-in, so it may name the case)."""

    __tablename__ = "notifications"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: Who it is for.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    #: What caused it (as the outbox message's kind).
    kind: Mapped[str] = mapped_column(String(40))
    #: Where in the platform it leads (a path, no personal data).
    link: Mapped[str | None] = mapped_column(String(300), index=True)
    #: When made.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    #: When the user opened it.
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed text shown in the notification centre.
    text_enc: Mapped[bytes | None] = mapped_column("text", LargeBinary)

    text = Encrypted(TEXT)

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<Notification {self.public_id} {self.kind}>"
