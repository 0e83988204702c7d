"""The scheduler's heartbeat: the one running `marac scheduler` process says it is alive, for /healthz."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from marac.db import Base, UTCDateTime, utcnow


class SchedulerHeartbeat(Base):
    """The latest beat of the scheduler holding the lock (one row)."""

    __tablename__ = "scheduler_heartbeats"

    #: Surrogate key (always 1).
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Host and process of the scheduler (no personal data).
    holder: Mapped[str] = mapped_column(String(200))
    #: Process id.
    pid: Mapped[int] = mapped_column(Integer)
    #: When the process started.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Its latest beat.
    beat_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<SchedulerHeartbeat {self.holder}>"
