"""Meetings: each area's pattern, the meetings it generates, their agendas, research, attendance and minutes."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, Integer, LargeBinary, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marac.auth.models import User
from marac.cases.models import Case
from marac.crypto import TEXT, Encrypted
from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow
from marac.orgs.models import Agency, Area


class Frequency(StrEnum):
    """How often an area's MARAC meets."""

    MONTHLY = "monthly"
    FORTNIGHTLY = "fortnightly"
    WEEKLY = "weekly"
    DAILY = "daily"


FREQUENCY_LABELS = {
    Frequency.MONTHLY: "Monthly",
    Frequency.FORTNIGHTLY: "Fortnightly",
    Frequency.WEEKLY: "Weekly",
    Frequency.DAILY: "Daily (working days)",
}


class MeetingStatus(StrEnum):
    """Where a meeting is: its agenda being built, published to member agencies, or cancelled."""

    SCHEDULED = "scheduled"
    PUBLISHED = "published"
    CANCELLED = "cancelled"


class ItemStatus(StrEnum):
    """A case on an agenda: listed, deferred to a later meeting, or heard (minutes recorded)."""

    LISTED = "listed"
    DEFERRED = "deferred"
    HEARD = "heard"


class ResearchStatus(StrEnum):
    """One agency's research for one case."""

    OUTSTANDING = "outstanding"
    ANSWERED = "answered"
    NOTHING_HELD = "nothing_held"


class AttendanceStatus(StrEnum):
    """Whether a member agency attended."""

    PRESENT = "present"
    APOLOGIES = "apologies"
    ABSENT = "absent"


class MeetingPattern(Base):
    """How often and when an area's MARAC meets, and the defaults its meetings take."""

    __tablename__ = "meeting_patterns"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The area (one pattern each).
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id", ondelete="CASCADE"), unique=True)
    #: A Frequency value.
    frequency: Mapped[str] = mapped_column(String(12), default=Frequency.MONTHLY.value)
    #: Day of the week, Monday 0 to Friday 4 (ignored for daily meetings).
    weekday: Mapped[int] = mapped_column(Integer, default=2)
    #: For monthly meetings: which week of the month, 1 to 4, or 5 for the last.
    week_of_month: Mapped[int | None] = mapped_column(Integer)
    #: First day from which meetings are generated (fortnightly meetings count their weeks from here).
    starts_on: Mapped[date] = mapped_column(Date)
    #: Local start time (Europe/London).
    start_time: Mapped[time] = mapped_column(Time, default=time(10, 0))
    #: Length in minutes.
    length_minutes: Mapped[int] = mapped_column(Integer, default=180)
    #: Most cases a meeting should hear.
    case_limit: Mapped[int] = mapped_column(Integer, default=15)
    #: Default minutes budgeted per case.
    minutes_per_case: Mapped[int] = mapped_column(Integer, default=10)
    #: Working days before the meeting by which research is due.
    research_due_days: Mapped[int] = mapped_column(Integer, default=2)
    #: Where it meets (no personal data).
    venue: Mapped[str] = mapped_column(String(200), default="")
    #: How to join by call (link and dial-in).
    call_details: Mapped[str] = mapped_column(String(500), default="")
    #: The usual chair.
    chair_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When last changed.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    area: Mapped[Area] = relationship()
    chair: Mapped[User | None] = relationship()

    def __repr__(self) -> str:
        return f"<MeetingPattern area={self.area_id} {self.frequency}>"


class Meeting(Base):
    """One MARAC meeting of an area."""

    __tablename__ = "meetings"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: Reference shown on papers (no personal data), unique.
    reference: Mapped[str] = mapped_column(String(30), unique=True)
    #: The area.
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    #: When it starts (UTC).
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: Length in minutes.
    length_minutes: Mapped[int] = mapped_column(Integer)
    #: Most cases it should hear.
    case_limit: Mapped[int] = mapped_column(Integer)
    #: Where it meets.
    venue: Mapped[str] = mapped_column(String(200), default="")
    #: How to join by call.
    call_details: Mapped[str] = mapped_column(String(500), default="")
    #: Who chairs it.
    chair_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: A MeetingStatus value.
    status: Mapped[str] = mapped_column(String(12), default=MeetingStatus.SCHEDULED.value, index=True)
    #: When agencies' research is due.
    research_due_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: When the agenda was published to member agencies.
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When first generated or added.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The start before the latest move, if moved.
    moved_from: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Why it was moved or cancelled (no personal data).
    change_reason: Mapped[str | None] = mapped_column(String(300))
    #: When cancelled.
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Whether added by hand (an extra meeting), not generated from the area's pattern.
    is_extra: Mapped[bool] = mapped_column(default=False, server_default="0")
    #: Calendar sequence: goes up each time the time or place changes, so invites update.
    sequence: Mapped[int] = mapped_column(Integer, default=0)
    #: The minutes version being written or last signed (0: none recorded yet).
    minutes_version: Mapped[int] = mapped_column(Integer, default=0)
    #: The last version the chair signed (None: not signed).
    signed_version: Mapped[int | None] = mapped_column(Integer)
    #: When the chair last signed the minutes.
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the signed minutes were sent to member agencies.
    distributed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The version that was sent.
    distributed_version: Mapped[int | None] = mapped_column(Integer)
    #: Sealed reasons for changes made since the chair last signed (moved onto the next signed version).
    pending_change_reason_enc: Mapped[bytes | None] = mapped_column("pending_change_reason", LargeBinary)

    pending_change_reason = Encrypted(TEXT)

    area: Mapped[Area] = relationship()
    chair: Mapped[User | None] = relationship()
    items: Mapped[list[AgendaItem]] = relationship(
        back_populates="meeting", order_by="AgendaItem.position", cascade="all, delete-orphan"
    )

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    @property
    def is_cancelled(self) -> bool:
        """Whether cancelled."""
        return self.status == MeetingStatus.CANCELLED.value

    @property
    def is_published(self) -> bool:
        """Whether the agenda has gone to member agencies."""
        return self.status == MeetingStatus.PUBLISHED.value

    @property
    def minutes_signed(self) -> bool:
        """Whether the current minutes are signed (no change since the chair signed)."""
        return self.signed_version is not None and self.signed_version == self.minutes_version

    def __repr__(self) -> str:
        return f"<Meeting {self.reference} {self.status}>"


class AgendaItem(Base):
    """A case on a meeting's agenda, with its time budget and, once heard, the discussion."""

    __tablename__ = "agenda_items"
    __table_args__ = (UniqueConstraint("meeting_id", "case_id"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The meeting.
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    #: The case.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    #: Order on the agenda, from 1.
    position: Mapped[int] = mapped_column(Integer)
    #: Minutes budgeted for the case.
    minutes_budget: Mapped[int] = mapped_column(Integer, default=10)
    #: An ItemStatus value.
    status: Mapped[str] = mapped_column(String(10), default=ItemStatus.LISTED.value, index=True)
    #: Whether it was added after the agenda was published.
    is_late: Mapped[bool] = mapped_column(default=False)
    #: Who allocated it.
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When allocated.
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When deferred.
    deferred_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the discussion was last recorded.
    recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed reason for deferring.
    deferral_reason_enc: Mapped[bytes | None] = mapped_column("deferral_reason", LargeBinary)
    #: Sealed victim's voice, brought by the IDVA.
    victim_voice_enc: Mapped[bytes | None] = mapped_column("victim_voice", LargeBinary)
    #: Sealed risks identified.
    risks_enc: Mapped[bytes | None] = mapped_column("risks", LargeBinary)
    #: Sealed minutes of the discussion.
    minutes_enc: Mapped[bytes | None] = mapped_column("minutes", LargeBinary)

    deferral_reason = Encrypted(TEXT)
    victim_voice = Encrypted(TEXT)
    risks = Encrypted(TEXT)
    minutes = Encrypted(TEXT)

    meeting: Mapped[Meeting] = relationship(back_populates="items")
    case: Mapped[Case] = relationship()

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    @property
    def is_deferred(self) -> bool:
        """Whether deferred to a later meeting."""
        return self.status == ItemStatus.DEFERRED.value

    def __repr__(self) -> str:
        return f"<AgendaItem {self.public_id} {self.status}>"


class ResearchRequest(Base):
    """What one member agency holds on one case for the meeting: facts, professional opinion, what it withheld."""

    __tablename__ = "research_requests"
    __table_args__ = (UniqueConstraint("agenda_item_id", "agency_id"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The agenda item (meeting and case).
    agenda_item_id: Mapped[int] = mapped_column(ForeignKey("agenda_items.id", ondelete="CASCADE"), index=True)
    #: The agency asked.
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: A ResearchStatus value.
    status: Mapped[str] = mapped_column(String(14), default=ResearchStatus.OUTSTANDING.value, index=True)
    #: When asked.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Who answered.
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When answered (last saved).
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the coordinator last sent a reminder.
    reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed facts held.
    facts_enc: Mapped[bytes | None] = mapped_column("facts", LargeBinary)
    #: Sealed professional opinion (kept apart from the facts).
    opinion_enc: Mapped[bytes | None] = mapped_column("opinion", LargeBinary)
    #: Sealed description of what is held but not shared.
    withheld_enc: Mapped[bytes | None] = mapped_column("withheld", LargeBinary)
    #: Sealed reason for not sharing it.
    withheld_reason_enc: Mapped[bytes | None] = mapped_column("withheld_reason", LargeBinary)

    facts = Encrypted(TEXT)
    opinion = Encrypted(TEXT)
    withheld = Encrypted(TEXT)
    withheld_reason = Encrypted(TEXT)

    item: Mapped[AgendaItem] = relationship()
    agency: Mapped[Agency] = relationship()
    answered_by: Mapped[User | None] = relationship()

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    @property
    def is_outstanding(self) -> bool:
        """Whether still to be answered."""
        return self.status == ResearchStatus.OUTSTANDING.value

    def __repr__(self) -> str:
        return f"<ResearchRequest {self.public_id} {self.status}>"


class Attendance(Base):
    """Whether a member agency attended a meeting, who came, and for apologies whether information was sent."""

    __tablename__ = "meeting_attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "agency_id"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The meeting.
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    #: The agency.
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: An AttendanceStatus value.
    status: Mapped[str] = mapped_column(String(10))
    #: Who attended for the agency (staff names and roles).
    attendees: Mapped[str] = mapped_column(String(300), default="")
    #: For apologies: whether the agency sent its information beforehand.
    information_sent: Mapped[bool | None] = mapped_column()
    #: When recorded.
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agency: Mapped[Agency] = relationship()

    def __repr__(self) -> str:
        return f"<Attendance meeting={self.meeting_id} {self.status}>"


class Observer(Base):
    """Someone observing a meeting who is not a member agency's representative; they sign the confidentiality
    statement before the meeting hears any case."""

    __tablename__ = "meeting_observers"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The meeting.
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    #: The observer's name (a professional, not a case subject).
    name: Mapped[str] = mapped_column(String(120))
    #: Their organisation.
    organisation: Mapped[str] = mapped_column(String(160))
    #: Why they are observing.
    purpose: Mapped[str] = mapped_column(String(200), default="")
    #: Version of the confidentiality statement signed.
    statement_version: Mapped[str] = mapped_column(String(20))
    #: When they signed it.
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: Who recorded the signature.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)

    def __repr__(self) -> str:
        return f"<Observer {self.public_id}>"


class MinutesVersion(Base):
    """A signed version of a meeting's minutes: a sealed snapshot, so later changes never rewrite what was signed."""

    __tablename__ = "minutes_versions"
    __table_args__ = (UniqueConstraint("meeting_id", "version"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The meeting.
    meeting_id: Mapped[int] = mapped_column(ForeignKey("meetings.id", ondelete="CASCADE"), index=True)
    #: Version number, from 1.
    version: Mapped[int] = mapped_column(Integer)
    #: The chair who signed it.
    signed_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: When signed.
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    #: SHA-256 of the snapshot, shown on the papers.
    digest: Mapped[str] = mapped_column(String(64))
    #: Sealed JSON snapshot of every case's minutes, risks, victim's voice and actions.
    snapshot_enc: Mapped[bytes | None] = mapped_column("snapshot", LargeBinary)
    #: Sealed reason for the change (versions after the first).
    change_reason_enc: Mapped[bytes | None] = mapped_column("change_reason", LargeBinary)

    snapshot = Encrypted(TEXT)
    change_reason = Encrypted(TEXT)

    signed_by: Mapped[User] = relationship()

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<MinutesVersion meeting={self.meeting_id} v{self.version}>"
