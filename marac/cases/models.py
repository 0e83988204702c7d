"""Cases, the people in them, and incidents (which feed the repeat-victim flag)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marac.auth.models import User
from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow
from marac.orgs.models import Agency, Area
from marac.people.models import Person


class PartyRole(StrEnum):
    """A person's part in a case."""

    VICTIM = "victim"
    PERPETRATOR = "perpetrator"
    CHILD = "child"
    OTHER = "other"


PARTY_ROLE_LABELS = {
    PartyRole.VICTIM: "Victim",
    PartyRole.PERPETRATOR: "Perpetrator",
    PartyRole.CHILD: "Child",
    PartyRole.OTHER: "Other household member",
}


class Case(Base):
    """One victim's MARAC episode: who is in it, who referred it, and who may see it."""

    __tablename__ = "cases"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: Reference shown to practitioners (no personal data), unique.
    reference: Mapped[str] = mapped_column(String(20), unique=True)
    #: The MARAC area hearing the case.
    area_id: Mapped[int] = mapped_column(ForeignKey("areas.id"), index=True)
    #: The agency that referred the case.
    referring_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: The practitioner who referred it.
    referred_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: The IDVA assigned to the victim.
    assigned_idva_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: The victim.
    victim_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    #: Date of the referral to MARAC (starts the 12-month repeat window).
    referred_on: Mapped[date] = mapped_column(Date, index=True)
    #: "open" or "closed".
    status: Mapped[str] = mapped_column(String(10), default="open")
    #: When recorded.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    area: Mapped[Area] = relationship()
    referring_agency: Mapped[Agency] = relationship()
    referred_by: Mapped[User | None] = relationship(foreign_keys=[referred_by_id])
    assigned_idva: Mapped[User | None] = relationship(foreign_keys=[assigned_idva_id])
    victim: Mapped[Person] = relationship()
    parties: Mapped[list[CaseParty]] = relationship(
        back_populates="case", cascade="all, delete-orphan", order_by="CaseParty.id"
    )

    def __repr__(self) -> str:
        return f"<Case {self.reference}>"


class CaseParty(Base):
    """A person's part in a case (victim, perpetrator, child, other) and their relationship to the victim."""

    __tablename__ = "case_parties"
    __table_args__ = (UniqueConstraint("case_id", "person_id"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The case.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: The person.
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    #: A PartyRole value.
    role: Mapped[str] = mapped_column(String(12))
    #: A people.Relationship value: how this person stands to the victim (None for the victim).
    relationship_to_victim: Mapped[str | None] = mapped_column(String(20))
    #: Whether they live with the victim.
    is_same_household: Mapped[bool] = mapped_column(default=False)
    #: When added.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    case: Mapped[Case] = relationship(back_populates="parties")
    person: Mapped[Person] = relationship()

    def __repr__(self) -> str:
        return f"<CaseParty {self.case_id} {self.role}>"


class Incident(Base):
    """A domestic-abuse incident recorded by an agency; incidents and referrals make a victim a repeat."""

    __tablename__ = "incidents"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The victim.
    victim_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    #: The perpetrator, when known.
    perpetrator_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    #: The case it was recorded against, if any.
    case_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id", ondelete="SET NULL"), index=True)
    #: The agency that recorded it.
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: When it happened (date).
    occurred_on: Mapped[date] = mapped_column(Date, index=True)
    #: When recorded.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    agency: Mapped[Agency] = relationship()

    def __repr__(self) -> str:
        return f"<Incident {self.public_id}>"
