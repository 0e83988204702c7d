"""Actions agreed at MARAC: each owned by an agency (and a person), with a due date and a status."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marac.auth.models import User
from marac.cases.models import Case
from marac.crypto import TEXT, Encrypted
from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow
from marac.orgs.models import Agency


class ActionStatus(StrEnum):
    """Where an action is."""

    OPEN = "open"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    NOT_POSSIBLE = "not_possible"  # circumstances changed (a reason is recorded)
    NOT_DONE = "not_done"  # recorded at review


ACTION_STATUS_LABELS = {
    ActionStatus.OPEN: "Open",
    ActionStatus.IN_PROGRESS: "In progress",
    ActionStatus.COMPLETED: "Completed",
    ActionStatus.NOT_POSSIBLE: "Not possible (circumstances changed)",
    ActionStatus.NOT_DONE: "Not done",
}

#: Statuses that still need work.
OUTSTANDING = frozenset({ActionStatus.OPEN.value, ActionStatus.IN_PROGRESS.value})


class Action(Base):
    """One agreed action: the owning agency and person, what is to be done, by when, and where it stands."""

    __tablename__ = "actions"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The case.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: The meeting that agreed it.
    meeting_id: Mapped[int | None] = mapped_column(ForeignKey("meetings.id"), index=True)
    #: The agenda item it came from.
    agenda_item_id: Mapped[int | None] = mapped_column(ForeignKey("agenda_items.id"), index=True)
    #: The owning agency.
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: The person at that agency who owns it.
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When it is due.
    due_on: Mapped[date] = mapped_column(Date, index=True)
    #: An ActionStatus value.
    status: Mapped[str] = mapped_column(String(14), default=ActionStatus.OPEN.value, index=True)
    #: Who recorded it.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When recorded.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When the status last changed.
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When the agency last reported on it (a status change or a progress note).
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The day the reminder before the due date was sent.
    reminded_on: Mapped[date | None] = mapped_column(Date)
    #: When it was escalated to the agency's representative and their supervisor for being overdue.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed SMART description.
    description_enc: Mapped[bytes | None] = mapped_column("description", LargeBinary)
    #: Sealed note with the latest status (completion note, or why it was not possible).
    status_note_enc: Mapped[bytes | None] = mapped_column("status_note", LargeBinary)

    description = Encrypted(TEXT)
    status_note = Encrypted(TEXT)

    case: Mapped[Case] = relationship()
    agency: Mapped[Agency] = relationship()
    owner: Mapped[User | None] = relationship(foreign_keys=[owner_id])

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    @property
    def is_outstanding(self) -> bool:
        """Whether it still needs work."""
        return self.status in OUTSTANDING

    @property
    def status_label(self) -> str:
        """Human label for the status."""
        return ACTION_STATUS_LABELS[ActionStatus(self.status)]

    def __repr__(self) -> str:
        return f"<Action {self.public_id} {self.status}>"


class ActionEvent(Base):
    """One change to an action's status, with its note: the action's history."""

    __tablename__ = "action_events"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The action.
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id", ondelete="CASCADE"), index=True)
    #: The status before.
    from_status: Mapped[str | None] = mapped_column(String(14))
    #: The status after.
    to_status: Mapped[str] = mapped_column(String(14))
    #: Who changed it.
    changed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When.
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Sealed note (required for completed, not possible and not done).
    note_enc: Mapped[bytes | None] = mapped_column("note", LargeBinary)

    note = Encrypted(TEXT)

    changed_by: Mapped[User | None] = relationship()

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<ActionEvent {self.from_status}->{self.to_status}>"
