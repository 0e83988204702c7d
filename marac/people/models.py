"""Persons with encrypted identifying fields, their blind-index terms, match decisions and household links."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marac.crypto import BOOL, DATE, TEXT, TEXT_LIST, Encrypted
from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow


class PersonKind(StrEnum):
    """What a person was first recorded as; their part in each case is on the case."""

    VICTIM = "victim"
    PERPETRATOR = "perpetrator"
    CHILD = "child"
    OTHER = "other"


PERSON_KIND_LABELS = {
    PersonKind.VICTIM: "Victim",
    PersonKind.PERPETRATOR: "Perpetrator",
    PersonKind.CHILD: "Child",
    PersonKind.OTHER: "Other household member",
}


class Relationship(StrEnum):
    """How a related person stands to a person ("X is the <relationship> of Y")."""

    PARTNER = "partner"
    EX_PARTNER = "ex_partner"
    CHILD = "child"
    PARENT = "parent"
    SIBLING = "sibling"
    OTHER_FAMILY = "other_family"
    ASSOCIATE = "associate"
    OTHER = "other"


RELATIONSHIP_LABELS = {
    Relationship.PARTNER: "Partner or spouse",
    Relationship.EX_PARTNER: "Former partner or spouse",
    Relationship.CHILD: "Child",
    Relationship.PARENT: "Parent",
    Relationship.SIBLING: "Brother or sister",
    Relationship.OTHER_FAMILY: "Other family member",
    Relationship.ASSOCIATE: "Associate or friend",
    Relationship.OTHER: "Other",
}


class Person(Base):
    """Someone in a case: every identifying field is sealed; matching uses the terms in `person_terms`."""

    __tablename__ = "persons"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into every ciphertext of the row.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: What the person was recorded as.
    kind: Mapped[str] = mapped_column(String(12))
    #: Shared by records a user confirmed are the same individual (never set automatically).
    identity_key: Mapped[str] = mapped_column(String(36), index=True, default=new_public_id)
    #: Agency that recorded the person.
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: User who recorded the person.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When recorded.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When last changed.
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    #: Sealed given name(s).
    given_name_enc: Mapped[bytes | None] = mapped_column("given_name", LargeBinary)
    #: Sealed family name.
    family_name_enc: Mapped[bytes | None] = mapped_column("family_name", LargeBinary)
    #: Sealed list of other names used.
    aliases_enc: Mapped[bytes | None] = mapped_column("aliases", LargeBinary)
    #: Sealed date of birth.
    date_of_birth_enc: Mapped[bytes | None] = mapped_column("date_of_birth", LargeBinary)
    #: Sealed gender.
    gender_enc: Mapped[bytes | None] = mapped_column("gender", LargeBinary)
    #: Sealed list of phone numbers in E.164.
    phones_enc: Mapped[bytes | None] = mapped_column("phones", LargeBinary)
    #: Sealed email address.
    email_enc: Mapped[bytes | None] = mapped_column("email", LargeBinary)
    #: Sealed current address (without postcode).
    address_enc: Mapped[bytes | None] = mapped_column("address", LargeBinary)
    #: Sealed postcode, normalised.
    postcode_enc: Mapped[bytes | None] = mapped_column("postcode", LargeBinary)
    #: Sealed ethnicity (equality monitoring).
    ethnicity_enc: Mapped[bytes | None] = mapped_column("ethnicity", LargeBinary)
    #: Sealed disability (equality monitoring).
    disability_enc: Mapped[bytes | None] = mapped_column("disability", LargeBinary)
    #: Sealed sexual orientation (equality monitoring).
    sexual_orientation_enc: Mapped[bytes | None] = mapped_column("sexual_orientation", LargeBinary)
    #: Sealed first language.
    language_enc: Mapped[bytes | None] = mapped_column("language", LargeBinary)
    #: Sealed: whether an interpreter is needed.
    interpreter_needed_enc: Mapped[bytes | None] = mapped_column("interpreter_needed", LargeBinary)
    #: Sealed health detail (health and IDVA only).
    health_notes_enc: Mapped[bytes | None] = mapped_column("health_notes", LargeBinary)

    given_name = Encrypted(TEXT)
    family_name = Encrypted(TEXT)
    aliases = Encrypted(TEXT_LIST)
    date_of_birth = Encrypted(DATE)
    gender = Encrypted(TEXT)
    phones = Encrypted(TEXT_LIST)
    email = Encrypted(TEXT)
    address = Encrypted(TEXT)
    postcode = Encrypted(TEXT)
    ethnicity = Encrypted(TEXT)
    disability = Encrypted(TEXT)
    sexual_orientation = Encrypted(TEXT)
    language = Encrypted(TEXT)
    interpreter_needed = Encrypted(BOOL)
    health_notes = Encrypted(TEXT)

    terms: Mapped[list[PersonTerm]] = relationship(back_populates="person", cascade="all, delete-orphan")

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()  # bound into the ciphertexts, so it must exist before the first field
        self.identity_key = new_public_id()
        super().__init__(**kwargs)

    @property
    def display_name(self) -> str:
        """Given and family name, or "unreadable" when either failed to open."""
        parts = [self.given_name, self.family_name]
        return " ".join(str(p) for p in parts if p is not None) or "(no name recorded)"

    def __repr__(self) -> str:
        return f"<Person {self.public_id} {self.kind}>"


class PersonTerm(Base):
    """One blind-index term of a person: HMAC of a normalised value under an index key version."""

    __tablename__ = "person_terms"
    __table_args__ = (Index("ix_person_terms_digest", "digest"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The person.
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    #: Which field the term is over (name, phonetic, dob, phone, postcode, initials_postcode, email).
    field: Mapped[str] = mapped_column(String(20))
    #: Index key version the digest was made with.
    key_version: Mapped[int] = mapped_column(Integer)
    #: Truncated HMAC-SHA256 of the normalised value.
    digest: Mapped[bytes] = mapped_column(LargeBinary(16))

    person: Mapped[Person] = relationship(back_populates="terms")

    def __repr__(self) -> str:
        return f"<PersonTerm {self.field} v{self.key_version}>"


class MatchDecision(Base):
    """A user's decision on a suggested match: linked (same individual) or rejected (not the same)."""

    __tablename__ = "person_match_decisions"
    __table_args__ = (UniqueConstraint("person_id", "candidate_id"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The person being entered.
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    #: The suggested existing person.
    candidate_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    #: "linked" or "rejected".
    decision: Mapped[str] = mapped_column(String(10))
    #: The match score shown when deciding (0-100).
    score: Mapped[int] = mapped_column(Integer)
    #: The reasons shown when deciding (no personal data: which fields agreed).
    reasons: Mapped[str] = mapped_column(String(300))
    #: Who decided.
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When.
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<MatchDecision {self.decision} {self.person_id}->{self.candidate_id}>"


class HouseholdLink(Base):
    """How two persons are related ("related is the <relationship> of person"), and whether they live together."""

    __tablename__ = "household_links"
    __table_args__ = (UniqueConstraint("person_id", "related_person_id"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The person.
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    #: The related person.
    related_person_id: Mapped[int] = mapped_column(ForeignKey("persons.id", ondelete="CASCADE"), index=True)
    #: A Relationship value.
    relationship_type: Mapped[str] = mapped_column(String(20))
    #: Whether they live in the same household.
    is_same_household: Mapped[bool] = mapped_column(default=False)
    #: Who recorded the link.
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    related: Mapped[Person] = relationship(foreign_keys=[related_person_id])

    def __repr__(self) -> str:
        return f"<HouseholdLink {self.person_id}-{self.relationship_type}-{self.related_person_id}>"


def age_on(dob: date | None, today: date) -> int | None:
    """Age in whole years on `today` (None when the date of birth is unknown or unreadable)."""
    if not isinstance(dob, date):
        return None
    return today.year - dob.year - ((today.month, today.day) < (dob.month, dob.day))
