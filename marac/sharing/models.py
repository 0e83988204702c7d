"""Disclosures to other agencies with their lawful basis, the must-not-receive list, and break-glass grants."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marac.auth.models import User
from marac.cases.models import Case
from marac.crypto import TEXT, Encrypted
from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow
from marac.orgs.models import Agency
from marac.people.models import Person


class Disclosure(Base):
    """Who disclosed which parts of a case to which agency, when, why, and on what lawful basis."""

    __tablename__ = "disclosures"
    __allow_unmapped__ = True  # for the transient count below

    #: Accounts at the receiving agency barred from the case when it was disclosed (set by the service; not stored).
    barred_accounts: int = 0

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The case.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: The disclosing agency.
    from_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: The receiving agency.
    to_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: A named recipient at that agency, when there is one.
    recipient_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: Comma-separated parts shared (sharing.services.PARTS keys).
    parts: Mapped[str] = mapped_column(String(200))
    #: UK GDPR Article 6 basis.
    article6_basis: Mapped[str] = mapped_column(String(30))
    #: Article 9 / DPA 2018 Schedule 1 condition, or "s115" for Crime and Disorder Act 1998 section 115.
    special_condition: Mapped[str] = mapped_column(String(40))
    #: "given", "refused" or "not_sought".
    consent: Mapped[str] = mapped_column(String(12))
    #: Who disclosed.
    disclosed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When.
    disclosed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When access through this disclosure ended (withdrawn), if it has.
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed purpose of the disclosure.
    purpose_enc: Mapped[bytes | None] = mapped_column("purpose", LargeBinary)
    #: Sealed reason for sharing without consent (required when consent was refused or not sought).
    no_consent_reason_enc: Mapped[bytes | None] = mapped_column("no_consent_reason", LargeBinary)

    purpose = Encrypted(TEXT)
    no_consent_reason = Encrypted(TEXT)

    case: Mapped[Case] = relationship()
    from_agency: Mapped[Agency] = relationship(foreign_keys=[from_agency_id])
    to_agency: Mapped[Agency] = relationship(foreign_keys=[to_agency_id])
    recipient: Mapped[User | None] = relationship(foreign_keys=[recipient_id])
    disclosed_by: Mapped[User | None] = relationship(foreign_keys=[disclosed_by_id])

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<Disclosure {self.public_id}>"


class MustNotReceive(Base):
    """Someone who must never receive anything about a case: a person (perpetrator, associate) or a user account."""

    __tablename__ = "must_not_receive"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The case.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: A person on the list (their email and phones are checked against recipients).
    person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"), index=True)
    #: A user account on the list (e.g. the perpetrator works at a partner agency).
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: Who added the entry.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    person: Mapped[Person | None] = relationship()
    user: Mapped[User | None] = relationship(foreign_keys=[user_id])

    def __repr__(self) -> str:
        return f"<MustNotReceive {self.public_id}>"


class BreakGlassGrant(Base):
    """Emergency read access to one case for a limited time, given with a reason and reviewed by the DPO."""

    __tablename__ = "break_glass_grants"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The case.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: Who broke the glass.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: When access began.
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When access ends.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: When the DPO reviewed the use (None: awaiting review).
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: The DPO who reviewed it.
    reviewed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: "justified" or "not_justified".
    review_outcome: Mapped[str | None] = mapped_column(String(20))
    #: Sealed reason given.
    reason_enc: Mapped[bytes | None] = mapped_column("reason", LargeBinary)
    #: Sealed review note.
    review_note_enc: Mapped[bytes | None] = mapped_column("review_note", LargeBinary)

    reason = Encrypted(TEXT)
    review_note = Encrypted(TEXT)

    case: Mapped[Case] = relationship()
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    reviewed_by: Mapped[User | None] = relationship(foreign_keys=[reviewed_by_id])

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<BreakGlassGrant {self.public_id}>"
