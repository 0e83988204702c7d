"""Cases, the people in them, and incidents (which feed the repeat-victim flag)."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import JSON, Date, ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from marac.auth.models import User
from marac.crypto import TEXT, TEXT_LIST, Encrypted
from marac.db import Base, PublicId, UTCDateTime, new_public_id, utcnow
from marac.orgs.models import Agency, Area
from marac.people.models import Person


class CaseStatus(StrEnum):
    """Where a case is: a referral in progress, waiting, decided, or closed."""

    DRAFT = "draft"  # the referrer is still completing the referral
    AWAITING_SIGN_OFF = "awaiting_sign_off"  # submitted, waiting for the referrer's supervisor
    RETURNED = "returned"  # the supervisor sent it back with comments
    AWAITING_DECISION = "awaiting_decision"  # signed off, waiting for the coordinator
    OPEN = "open"  # accepted for MARAC
    BELOW_THRESHOLD = "below_threshold"  # not accepted: reason and signposting recorded
    DUPLICATE = "duplicate"  # linked to another case for the same victim and episode
    CLOSED = "closed"


#: Statuses in which the case is only the referring agency's (area coordinators and chairs do not see it yet).
PRE_SUBMISSION = frozenset({CaseStatus.DRAFT.value, CaseStatus.RETURNED.value})

INCIDENT_TYPES = {
    "domestic_abuse": "Domestic abuse incident",
    "breach_of_order": "Breach of an order or bail",
    "stalking": "Stalking or harassment",
    "sexual_violence": "Sexual violence",
    "counter_allegation": "Counter-allegation",
    "other": "Other",
}


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
    #: A CaseStatus value: a referral's case is a draft until submitted, then waits for sign-off and a decision.
    status: Mapped[str] = mapped_column(String(20), default="open", index=True)
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
    #: An INCIDENT_TYPES key.
    incident_type: Mapped[str] = mapped_column(String(30), default="domestic_abuse", server_default="domestic_abuse")
    #: Whether children were present (None: not known).
    children_present: Mapped[bool | None] = mapped_column()
    #: Sealed police reference.
    police_reference_enc: Mapped[bytes | None] = mapped_column("police_reference", LargeBinary)
    #: Sealed short circumstances.
    summary_enc: Mapped[bytes | None] = mapped_column("summary", LargeBinary)

    police_reference = Encrypted(TEXT)
    summary = Encrypted(TEXT)

    agency: Mapped[Agency] = relationship()

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<Incident {self.public_id}>"


class Questionnaire(Base):
    """A risk questionnaire as data (the DASH risk checklist, a DARA-style frequency scale, or a local variant)."""

    __tablename__ = "questionnaires"
    __table_args__ = (UniqueConstraint("key", "version"),)

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Stable key, e.g. "dash-ric".
    key: Mapped[str] = mapped_column(String(40))
    #: Version of the definition.
    version: Mapped[int] = mapped_column(Integer)
    #: Name shown to practitioners.
    name: Mapped[str] = mapped_column(String(120))
    #: "yes_no" (score = count of yes) or "frequency" (score = sum of scale points).
    scale: Mapped[str] = mapped_column(String(20))
    #: The questions and answer options (see marac/cases/questionnaires.py for the format).
    definition: Mapped[dict[str, object]] = mapped_column(JSON)
    #: Whether new assessments use it.
    is_active: Mapped[bool] = mapped_column(default=True)
    #: When loaded.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<Questionnaire {self.key} v{self.version}>"


class RiskAssessment(Base):
    """A risk assessment completed with the victim: sealed answers, score, grade and any professional judgement."""

    __tablename__ = "risk_assessments"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The case (referral) it belongs to.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: The questionnaire answered.
    questionnaire_id: Mapped[int] = mapped_column(ForeignKey("questionnaires.id"), index=True)
    #: Who assessed.
    assessed_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: "draft" (save and return) or "complete".
    status: Mapped[str] = mapped_column(String(10), default="draft")
    #: Score from the answers (None while a draft).
    score: Mapped[int | None] = mapped_column(Integer)
    #: Grade from the score and the area's thresholds: standard, medium or high.
    score_grade: Mapped[str | None] = mapped_column(String(10))
    #: Final grade: the score grade, or high when professional judgement raised it.
    grade: Mapped[str | None] = mapped_column(String(10))
    #: Whether professional judgement raised the grade.
    is_judgement_raised: Mapped[bool] = mapped_column(default=False)
    #: When started.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When completed.
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed answers: JSON {question key: answer}.
    answers_enc: Mapped[bytes | None] = mapped_column("answers", LargeBinary)
    #: Sealed free text: what the victim is afraid of.
    fears_enc: Mapped[bytes | None] = mapped_column("fears", LargeBinary)
    #: Sealed reasons for professional judgement.
    judgement_reasons_enc: Mapped[bytes | None] = mapped_column("judgement_reasons", LargeBinary)

    answers = Encrypted(TEXT)
    fears = Encrypted(TEXT)
    judgement_reasons = Encrypted(TEXT)

    questionnaire: Mapped[Questionnaire] = relationship()

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<RiskAssessment {self.public_id} {self.status}>"


class Referral(Base):
    """The referral that opened a case: criteria, consent, safe contact, sign-off and the coordinator's decision."""

    __tablename__ = "referrals"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The case it opens (one referral per case episode).
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), unique=True)
    #: The step of the journey the referrer reached (save and return).
    step: Mapped[str] = mapped_column(String(20), default="victim")
    #: Criteria met, worked out at submission: comma-separated CRITERIA keys.
    criteria: Mapped[str] = mapped_column(String(100), default="")
    #: Whether the victim knows of the referral and consents: "given", "refused", "not_sought".
    consent: Mapped[str | None] = mapped_column(String(12))
    #: Whether it is safe to phone the victim.
    is_safe_to_call: Mapped[bool | None] = mapped_column()
    #: When submitted for sign-off.
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: The supervisor who signed it off (or returned it).
    supervisor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When signed off.
    signed_off_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    #: When last returned to the referrer.
    returned_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The coordinator who decided.
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When decided.
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: "accepted", "below_threshold" or "duplicate".
    decision: Mapped[str | None] = mapped_column(String(20))
    #: For a duplicate: the case it belongs to.
    duplicate_of_id: Mapped[int | None] = mapped_column(ForeignKey("cases.id"), index=True)
    #: Sealed professional-judgement reasons (criterion 2).
    judgement_reasons_enc: Mapped[bytes | None] = mapped_column("judgement_reasons", LargeBinary)
    #: Sealed reason for referring without consent.
    no_consent_reason_enc: Mapped[bytes | None] = mapped_column("no_consent_reason", LargeBinary)
    #: Sealed safe-contact arrangements (safe times, safe number, safe person).
    safe_contact_enc: Mapped[bytes | None] = mapped_column("safe_contact", LargeBinary)
    #: Sealed people it is unsafe to contact and who the victim fears.
    unsafe_contacts_enc: Mapped[bytes | None] = mapped_column("unsafe_contacts", LargeBinary)
    #: Sealed previous MARACs known to the referrer.
    previous_marac_enc: Mapped[bytes | None] = mapped_column("previous_marac", LargeBinary)
    #: Sealed supervisor's comments when returned.
    return_comments_enc: Mapped[bytes | None] = mapped_column("return_comments", LargeBinary)
    #: Sealed reason for a below-threshold decision.
    decision_reason_enc: Mapped[bytes | None] = mapped_column("decision_reason", LargeBinary)
    #: Sealed signposting given with a below-threshold decision.
    signposting_enc: Mapped[bytes | None] = mapped_column("signposting", LargeBinary)

    judgement_reasons = Encrypted(TEXT)
    no_consent_reason = Encrypted(TEXT)
    safe_contact = Encrypted(TEXT)
    unsafe_contacts = Encrypted(TEXT)
    previous_marac = Encrypted(TEXT)
    return_comments = Encrypted(TEXT)
    decision_reason = Encrypted(TEXT)
    signposting = Encrypted(TEXT)

    case: Mapped[Case] = relationship(foreign_keys=[case_id])
    supervisor: Mapped[User | None] = relationship(foreign_keys=[supervisor_id])

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<Referral {self.public_id}>"


class SafetyPlan(Base):
    """Measures to keep the victim safe, with a named owner and a review date; overdue when the date passes."""

    __tablename__ = "safety_plans"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The case.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: The named owner.
    owner_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    #: When it is next to be reviewed.
    review_on: Mapped[date] = mapped_column(Date, index=True)
    #: "active" or "ended".
    status: Mapped[str] = mapped_column(String(10), default="active", index=True)
    #: When made.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When last reviewed.
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: The day the owner was reminded that the current review is coming up (cleared when the review date moves).
    reminded_on: Mapped[date | None] = mapped_column(Date)
    #: When the overdue review was escalated (cleared when the review date moves).
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed measures: keys from SAFETY_MEASURES.
    measures_enc: Mapped[bytes | None] = mapped_column("measures", LargeBinary)
    #: Sealed free-text detail of the plan.
    detail_enc: Mapped[bytes | None] = mapped_column("detail", LargeBinary)

    measures = Encrypted(TEXT_LIST)
    detail = Encrypted(TEXT)

    owner: Mapped[User] = relationship()
    case: Mapped[Case] = relationship()

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<SafetyPlan {self.public_id} {self.status}>"


class CaseEvent(Base):
    """Something that happened on a case: a reassessment trigger (with the review it creates) or a plan change."""

    __tablename__ = "case_events"

    #: Surrogate key.
    id: Mapped[int] = mapped_column(primary_key=True)
    #: Random identifier used in URLs and bound into its ciphertexts.
    public_id: Mapped[str] = mapped_column(PublicId(), unique=True, default=new_public_id)
    #: The case.
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    #: The safety plan it concerns, if any.
    safety_plan_id: Mapped[int | None] = mapped_column(ForeignKey("safety_plans.id", ondelete="SET NULL"), index=True)
    #: A TRIGGERS key, or a plan history kind ("plan_created", "plan_reviewed", "plan_ended").
    kind: Mapped[str] = mapped_column(String(40))
    #: When the event happened (for example the release date).
    occurred_on: Mapped[date] = mapped_column(Date)
    #: The risk review the event makes due (None: no review needed).
    review_due_on: Mapped[date | None] = mapped_column(Date, index=True)
    #: Who must do the review.
    review_owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When the review was done.
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Who recorded the event.
    recorded_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)
    #: When recorded.
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The day the review owner was reminded that the review is coming up.
    reminded_on: Mapped[date | None] = mapped_column(Date)
    #: When the overdue review was escalated.
    escalated_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    #: Sealed note.
    note_enc: Mapped[bytes | None] = mapped_column("note", LargeBinary)

    note = Encrypted(TEXT)

    case: Mapped[Case] = relationship()
    review_owner: Mapped[User | None] = relationship(foreign_keys=[review_owner_id])

    def __init__(self, **kwargs: object) -> None:
        self.public_id = new_public_id()
        super().__init__(**kwargs)

    def __repr__(self) -> str:
        return f"<CaseEvent {self.kind}>"
