"""Operation Encompass: education settings with their key adults and term calendars, police incidents with the
children linked to them, one notification per child per setting, due before the setting's next school day, and the
history of corrections made to an incident."""

from __future__ import annotations

from datetime import date, datetime, time
from enum import StrEnum

from sqlalchemy import JSON, Date, ForeignKey, Integer, LargeBinary, String, Time, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marac.auth.models import User
from marac.crypto import BOOL, DATE, TEXT, Encrypted
from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow
from marac.orgs.models import Agency
from marac.people.models import Person


class SettingKind(StrEnum):
    """Kinds of education setting."""

    SCHOOL = "school"
    COLLEGE = "college"
    PUPIL_REFERRAL_UNIT = "pupil_referral_unit"
    INDEPENDENT_SCHOOL = "independent_school"


SETTING_KIND_LABELS = {
    SettingKind.SCHOOL: "School",
    SettingKind.COLLEGE: "College",
    SettingKind.PUPIL_REFERRAL_UNIT: "Pupil referral unit",
    SettingKind.INDEPENDENT_SCHOOL: "Independent school",
}


class ParentContact(StrEnum):
    """The local policy on whether the setting may contact the child's parents about the incident."""

    MAY_CONTACT = "may_contact"
    SEEK_ADVICE = "seek_advice"  # only after advice from children's social care or the police
    DO_NOT_CONTACT = "do_not_contact"


PARENT_CONTACT_LABELS = {
    ParentContact.MAY_CONTACT: "The setting may contact parents, following its safeguarding policy",
    ParentContact.SEEK_ADVICE: "Seek advice from children's social care or the police before contacting parents",
    ParentContact.DO_NOT_CONTACT: "Do not contact parents about the incident",
}


class ClosureKind(StrEnum):
    """Days a setting is closed beyond weekends and bank holidays."""

    HOLIDAY = "holiday"  # a term holiday or half term: a range of dates
    TRAINING_DAY = "training_day"  # an INSET day


class Route(StrEnum):
    """Where a notification goes."""

    SETTING = "setting"  # the setting's briefed key adults
    HOME_EDUCATION = "home_education"  # elective home education: the local authority's children's social care
    UNRESOLVED = "unresolved"  # setting unknown: police or the local authority must resolve it


class EducationSetting(Base):
    """A school, college, pupil referral unit or independent school that receives notifications."""

    __tablename__ = "education_settings"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: Unique reference number (DfE URN, Scottish SEED code or NI DE reference), digits and hyphens only.
    urn: Mapped[str] = mapped_column(String(12), unique=True)
    #: The setting's name.
    name: Mapped[str] = mapped_column(String(200))
    #: A SettingKind value.
    kind: Mapped[str] = mapped_column(String(24), default=SettingKind.SCHOOL.value)
    #: The local authority the setting is in (an agency of kind local_authority).
    local_authority_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: The setting's own agency on the platform, whose key adults sign in (kind education).
    agency_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), unique=True)
    #: A Nation value from marac.encompass.calendar (which bank holidays apply).
    nation: Mapped[str] = mapped_column(String(20), default="england-wales")
    #: When the school day starts (local time): notifications are due before it.
    day_start: Mapped[time] = mapped_column(Time, default=time(8, 30))
    #: A ParentContact value: the local policy on contacting parents.
    parent_contact: Mapped[str] = mapped_column(String(16), default=ParentContact.SEEK_ADVICE.value)
    #: Whether the setting is open (a closed setting receives nothing; its notifications go unresolved).
    is_active: Mapped[bool] = mapped_column(default=True)
    #: When recorded.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    local_authority: Mapped[Agency] = relationship(foreign_keys=[local_authority_id])
    agency: Mapped[Agency | None] = relationship(foreign_keys=[agency_id])
    key_adults: Mapped[list[KeyAdult]] = relationship(
        back_populates="setting", cascade="all, delete-orphan", order_by="KeyAdult.rank"
    )

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<EducationSetting {self.urn}>"


class KeyAdult(Base):
    """A setting's key adult (the designated safeguarding lead or a deputy). Only those whose Operation Encompass
    briefing is recorded receive notifications; rank 1 is told first, rank 2 on escalation."""

    __tablename__ = "key_adults"
    __table_args__ = (UniqueConstraint("setting_id", "user_id"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The setting.
    setting_id: Mapped[int] = mapped_column(ForeignKey("education_settings.id", ondelete="CASCADE"), index=True)
    #: The key adult's account.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: 1 for the key adult, 2 for the second key adult (told on escalation).
    rank: Mapped[int] = mapped_column(Integer, default=1)
    #: When they completed the Operation Encompass briefing (None: they receive nothing).
    briefed_on: Mapped[date | None] = mapped_column(Date)
    #: When recorded.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    setting: Mapped[EducationSetting] = relationship(back_populates="key_adults")
    user: Mapped[User] = relationship()

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    @property
    def is_briefed(self) -> bool:
        """Whether their briefing is recorded (so they receive notifications)."""
        return self.briefed_on is not None

    def __repr__(self) -> str:
        return f"<KeyAdult setting={self.setting_id} user={self.user_id} rank={self.rank}>"


class SettingClosure(Base):
    """A term holiday (a range of dates) or a training day when the setting is closed."""

    __tablename__ = "setting_closures"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The setting.
    setting_id: Mapped[int] = mapped_column(ForeignKey("education_settings.id", ondelete="CASCADE"), index=True)
    #: A ClosureKind value.
    kind: Mapped[str] = mapped_column(String(14))
    #: First day closed.
    starts_on: Mapped[date] = mapped_column(Date)
    #: Last day closed (the same day for a training day).
    ends_on: Mapped[date] = mapped_column(Date)
    #: What it is ("Autumn half term").
    label: Mapped[str | None] = mapped_column(String(80))

    def __repr__(self) -> str:
        return f"<SettingClosure {self.kind} {self.starts_on}..{self.ends_on}>"


class EncompassAuthority(Base):
    """A local authority's Operation Encompass arrangements: who receives notifications for children in elective
    home education (children's social care) and who is escalated to (the education safeguarding lead)."""

    __tablename__ = "encompass_authorities"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: The local authority (an agency of kind local_authority).
    local_authority_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), unique=True)
    #: Its children's social care (receives notifications for children in elective home education).
    childrens_social_care_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: Its nation (for due times of children whose setting is unknown or home-educated).
    nation: Mapped[str] = mapped_column(String(20), default="england-wales")

    local_authority: Mapped[Agency] = relationship(foreign_keys=[local_authority_id])
    childrens_social_care: Mapped[Agency | None] = relationship(foreign_keys=[childrens_social_care_id])


class PoliceIncident(Base):
    """A domestic-abuse incident police attended, with children linked to it. A police force's reference is
    unique: recording it again updates nothing and duplicates nothing."""

    __tablename__ = "encompass_incidents"
    __table_args__ = (UniqueConstraint("police_agency_id", "police_reference"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The police force.
    police_agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: The force's incident reference.
    police_reference: Mapped[str] = mapped_column(String(40))
    #: When it happened.
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: Who recorded it.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When recorded.
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: "form" or "import".
    source: Mapped[str] = mapped_column(String(8), default="form")
    #: Sealed place (street or area: as much as the key adult needs).
    place_enc: Mapped[bytes | None] = mapped_column("place", LargeBinary)
    #: Sealed short circumstances.
    circumstances_enc: Mapped[bytes | None] = mapped_column("circumstances", LargeBinary)

    place = Encrypted(TEXT)
    circumstances = Encrypted(TEXT)

    police_agency: Mapped[Agency] = relationship()
    children: Mapped[list[EncompassChild]] = relationship(back_populates="incident", cascade="all, delete-orphan")

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<PoliceIncident {self.public_id}>"


class EncompassChild(Base):
    """A child linked to an incident: who they are (a person record, matched through the blind indexes), their
    setting, whether they were present and where, whether they were spoken to and what they said."""

    __tablename__ = "encompass_children"
    __table_args__ = (UniqueConstraint("incident_id", "person_id"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The incident.
    incident_id: Mapped[int] = mapped_column(ForeignKey("encompass_incidents.id", ondelete="CASCADE"), index=True)
    #: The child's person record.
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    #: Their setting (None when home-educated or unknown).
    setting_id: Mapped[int | None] = mapped_column(ForeignKey("education_settings.id"), index=True)
    #: Whether they are in elective home education.
    home_educated: Mapped[bool] = mapped_column(default=False)
    #: The local authority where they live (routes home education and unresolved settings).
    local_authority_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: Sealed: the child's given name as the police gave it (shown to key adults and officers: never the stored
    #: person's, which may be newer or fuller than what the police knew).
    given_name_enc: Mapped[bytes | None] = mapped_column("given_name", LargeBinary)
    #: Sealed: the family name as the police gave it.
    family_name_enc: Mapped[bytes | None] = mapped_column("family_name", LargeBinary)
    #: Sealed: the date of birth as the police gave it.
    date_of_birth_enc: Mapped[bytes | None] = mapped_column("date_of_birth", LargeBinary)
    #: Sealed: whether they were present.
    present_enc: Mapped[bytes | None] = mapped_column("present", LargeBinary)
    #: Sealed: where they were (present or not).
    location_enc: Mapped[bytes | None] = mapped_column("location", LargeBinary)
    #: Sealed: whether they were spoken to.
    spoken_to_enc: Mapped[bytes | None] = mapped_column("spoken_to", LargeBinary)
    #: Sealed: what they said (the voice of the child).
    child_said_enc: Mapped[bytes | None] = mapped_column("child_said", LargeBinary)
    #: Sealed: another adult present (who), if any.
    other_adult_enc: Mapped[bytes | None] = mapped_column("other_adult", LargeBinary)
    #: When the police last corrected what the key adult reads about this child (their details or the incident's).
    corrected_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    given_name = Encrypted(TEXT)
    family_name = Encrypted(TEXT)
    date_of_birth = Encrypted(DATE)
    present = Encrypted(BOOL)
    location = Encrypted(TEXT)
    spoken_to = Encrypted(BOOL)
    child_said = Encrypted(TEXT)
    other_adult = Encrypted(TEXT)

    incident: Mapped[PoliceIncident] = relationship(back_populates="children")
    person: Mapped[Person] = relationship()
    setting: Mapped[EducationSetting | None] = relationship()

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    @property
    def display_name(self) -> str:
        """The name as the police gave it ("" once removed under the retention policy)."""
        parts = [self.given_name, self.family_name]
        return " ".join(str(p) for p in parts if isinstance(p, str) and p)

    def __repr__(self) -> str:
        return f"<EncompassChild {self.public_id}>"


class EncompassNotification(Base):
    """One notification per child per setting (or to children's social care, or waiting to be resolved): when it
    is due, when it went out, whether it was late, when it was opened and acknowledged, and any escalation."""

    __tablename__ = "encompass_notifications"
    __table_args__ = (UniqueConstraint("child_id", "setting_id"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The child on the incident.
    child_id: Mapped[int] = mapped_column(ForeignKey("encompass_children.id", ondelete="CASCADE"), index=True)
    #: The setting told (None for home education and unresolved).
    setting_id: Mapped[int | None] = mapped_column(ForeignKey("education_settings.id"), index=True)
    #: The local authority responsible (home education, unresolved, escalation).
    local_authority_id: Mapped[int | None] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: A Route value.
    route: Mapped[str] = mapped_column(String(16), index=True)
    #: When it is due: the start of the first school day after the incident.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    #: When it was recorded.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When it was sent (queued to the key adults); None while unresolved.
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: Whether it was sent after its due time.
    is_late: Mapped[bool] = mapped_column(default=False)
    #: First opened by a recipient.
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Who first opened it.
    opened_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: When acknowledged.
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: Who acknowledged it.
    acknowledged_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    #: 0 none, 1 second key adult told, 2 the local authority's education safeguarding lead told.
    escalation_level: Mapped[int] = mapped_column(Integer, default=0)
    #: When last escalated.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: When its content was removed at the end of the retention period (the counts stay for monitoring).
    anonymised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: Sealed note of the support offered.
    support_note_enc: Mapped[bytes | None] = mapped_column("support_note", LargeBinary)

    support_note = Encrypted(TEXT)

    child: Mapped[EncompassChild] = relationship()
    setting: Mapped[EducationSetting | None] = relationship()
    local_authority: Mapped[Agency | None] = relationship(foreign_keys=[local_authority_id])
    acknowledged_by: Mapped[User | None] = relationship(foreign_keys=[acknowledged_by_id])

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    @property
    def corrected_after_sending(self) -> datetime | None:
        """When its child was corrected, if that was after it was sent (its recipients may have read the old text)."""
        corrected = self.child.corrected_at
        if corrected is None or self.sent_at is None or self.anonymised_at is not None:
            return None
        return corrected if corrected > self.sent_at else None

    def __repr__(self) -> str:
        return f"<EncompassNotification {self.public_id} {self.route}>"


class CorrectionKind(StrEnum):
    """What a correction changed."""

    DETAILS = "details"  # the incident's place or circumstances, or a child's details as the police gave them
    REDIRECT = "redirect"  # a child's notification moved to the right setting


class EncompassCorrection(Base):
    """One correction of a recorded incident: who made it and when, the names of the fields changed (never their
    values: the old ones are not kept) or the settings a notification moved between, and the sealed reason."""

    __tablename__ = "encompass_corrections"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier bound into its ciphertext.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The incident corrected.
    incident_id: Mapped[int] = mapped_column(ForeignKey("encompass_incidents.id", ondelete="CASCADE"), index=True)
    #: The notification moved (a redirect only).
    notification_id: Mapped[int | None] = mapped_column(
        ForeignKey("encompass_notifications.id", ondelete="CASCADE"), index=True
    )
    #: A CorrectionKind value.
    kind: Mapped[str] = mapped_column(String(8))
    #: Who made it.
    made_by_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: Their agency when they made it.
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id"), index=True)
    #: When it was made.
    made_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: JSON list of the names of the fields changed ("place", "child.given_name"; "setting" for a redirect).
    fields: Mapped[list[str]] = mapped_column(JSON)
    #: The setting the notification was moved from (None: children's social care).
    from_setting_id: Mapped[int | None] = mapped_column(ForeignKey("education_settings.id"), index=True)
    #: The setting it was moved to.
    to_setting_id: Mapped[int | None] = mapped_column(ForeignKey("education_settings.id"), index=True)
    #: Sealed: why it was made (cleared under the retention policy).
    reason_enc: Mapped[bytes | None] = mapped_column("reason", LargeBinary)

    reason = Encrypted(TEXT)

    made_by: Mapped[User] = relationship(foreign_keys=[made_by_id])
    agency: Mapped[Agency] = relationship(foreign_keys=[agency_id])
    from_setting: Mapped[EducationSetting | None] = relationship(foreign_keys=[from_setting_id])
    to_setting: Mapped[EducationSetting | None] = relationship(foreign_keys=[to_setting_id])

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<EncompassCorrection {self.public_id} {self.kind}>"
