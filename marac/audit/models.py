"""The append-only, hash-chained audit trail."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marac.db import Base, UTCDateTime

#: 64-bit on PostgreSQL; INTEGER on SQLite so the rowid still autoincrements.
BIGINT = BigInteger().with_variant(Integer(), "sqlite")


class AuditEvent(Base):
    """One thing that happened: who, as what, did what to which object, why, with what outcome."""

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_actor_time", "actor_user_id", "occurred_at"),
        Index("ix_audit_events_object", "object_type", "object_id"),
    )

    #: Surrogate key.
    id: Mapped[int] = mapped_column(BIGINT, primary_key=True)
    #: Position in the chain: 1, 2, 3 ... with no gaps; unique so two writers can never fork the chain.
    seq: Mapped[int] = mapped_column(BIGINT, unique=True)
    #: When it happened (UTC).
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: The signed-in user, when there was one.
    actor_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: The actor's agency at the time.
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: The actor's roles at the time, comma-separated.
    role: Mapped[str | None] = mapped_column(String(200))
    #: Dotted verb, e.g. ``auth.sign_in``.
    action: Mapped[str] = mapped_column(String(80), index=True)
    #: Kind of object acted on, e.g. ``user``.
    object_type: Mapped[str | None] = mapped_column(String(40))
    #: Public id (or endpoint) of the object; never personal data.
    object_id: Mapped[str | None] = mapped_column(String(200))
    #: Why it was done (e.g. the break-glass reason category); never personal data.
    purpose: Mapped[str | None] = mapped_column(String(200))
    #: success, failure or denied.
    outcome: Mapped[str] = mapped_column(String(20))
    #: Extra non-personal detail (reasons, changed field names).
    details: Mapped[dict[str, object] | None] = mapped_column(JSON)
    #: Chain hash of the previous event ("" for the first).
    prev_hash: Mapped[str] = mapped_column(String(64))
    #: HMAC-SHA256 over this event's fields and ``prev_hash``.
    hash: Mapped[str] = mapped_column(String(64))

    def __repr__(self) -> str:
        return f"<AuditEvent seq={self.seq} action={self.action} outcome={self.outcome}>"
