"""A referral's life: started by a practitioner, submitted, signed off (or returned) by their supervisor, decided by
the area's coordinator, and an IDVA allocated."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import selectinload

from marac import audit, db
from marac.access import (
    CaseRelation,
    Role,
    can_act_on_case,
    can_decide_referral,
    can_open_case_in,
    can_own_case_work,
    can_sign_off,
    user_area_ids,
    visible_cases_clause,
)
from marac.auth.models import User, UserRole
from marac.cases.models import (
    PRE_SUBMISSION,
    Case,
    CaseParty,
    CaseStatus,
    PartyRole,
    Referral,
    RiskAssessment,
)
from marac.cases.services import new_reference
from marac.orgs.models import Area
from marac.people.models import Person, PersonKind, age_on
from marac.people.services import PersonDetails, identity_person_ids, record_person

MIN_AGE = 16
MIN_REASON = 20
CONSENT = ("given", "refused", "not_sought")
DECISIONS = ("accepted", "below_threshold", "duplicate")
#: Statuses of a live episode: a further referral for the same victim is offered as a link to it.
LIVE = (CaseStatus.AWAITING_SIGN_OFF.value, CaseStatus.AWAITING_DECISION.value, CaseStatus.OPEN.value)
#: The IDVA caseload benchmark (REFERENCE.md): an IDVA holds 60-80 cases.
CASELOAD_RANGE = (60, 80)


class ReferralError(ValueError):
    """A referral step that cannot be taken; the message says why and what to do."""


def _referral(case: Case) -> Referral:
    found = db.session.scalar(select(Referral).where(Referral.case_id == case.id))
    if found is None:
        raise ReferralError("This case has no referral")
    return found


def check_victim_age(details: PersonDetails, today: date) -> None:
    """MARAC is for victims aged 16 and over; a younger victim goes to children's safeguarding."""
    age = age_on(details.date_of_birth, today)
    if age is not None and age < MIN_AGE:
        raise ReferralError(
            "MARAC is for victims aged 16 and over. For a younger victim, make a referral to children's social care "
            "under your safeguarding procedures"
        )


def start_referral(actor: Any, *, area: Area, victim: PersonDetails, referred_on: date | None = None) -> Case:
    """Start a referral: the victim is recorded (sealed, matchable) and a draft case opened for the actor's agency."""
    today = db.london_today()
    if not can_open_case_in(actor, area):
        raise ReferralError("Select an area you work in: you cannot refer to that one")
    check_victim_age(victim, today)
    if victim.date_of_birth is not None and victim.date_of_birth > today:
        raise ReferralError("Date of birth must be in the past")
    person = record_person(actor, PersonKind.VICTIM, victim)
    case = Case(
        reference=new_reference(today),
        area_id=area.id,
        referring_agency_id=actor.agency_id,
        referred_by_id=actor.id,
        victim_id=person.id,
        referred_on=referred_on or today,
        status=CaseStatus.DRAFT.value,
    )
    db.session.add(case)
    db.session.flush()
    db.session.add(CaseParty(case_id=case.id, person_id=person.id, role=PartyRole.VICTIM.value))
    db.session.add(Referral(case_id=case.id))
    db.session.flush()
    audit.record("referral.start", actor=actor, object_type="case", object_id=case.public_id)
    return case


def agency_drafts(actor: Any) -> list[Any]:
    """(case, referral) of the actor's agency still being written or returned, newest first (not cases they are
    barred from)."""
    return list(
        db.session.execute(
            select(Case, Referral)
            .join(Referral, Referral.case_id == Case.id)
            .where(Case.referring_agency_id == actor.agency_id, Case.status.in_(PRE_SUBMISSION))
            .where(visible_cases_clause(actor))
            .order_by(Case.created_at.desc(), Case.id.desc())
        ).all()
    )


def live_episodes(victim: Person, exclude: Case | None = None, *, visible_to: Any = None) -> list[Case]:
    """Cases of the same individual still in progress or open: a new referral should link to them, not duplicate.
    With `visible_to`, only those that user may see (a list shown to them, or a link they make)."""
    query = select(Case).where(Case.victim_id.in_(identity_person_ids(victim)), Case.status.in_(LIVE))
    if visible_to is not None:
        query = query.where(visible_cases_clause(visible_to))
    if exclude is not None:
        query = query.where(Case.id != exclude.id)
    return list(db.session.scalars(query.order_by(Case.referred_on.desc())))


@dataclass
class ReferralDetails:
    """What the referrer says beyond the people and the risk assessment (plaintext in memory only)."""

    consent: str | None = None
    no_consent_reason: str | None = None
    is_safe_to_call: bool | None = None
    safe_contact: str | None = None
    unsafe_contacts: str | None = None
    previous_marac: str | None = None
    judgement_reasons: str | None = None


def save_details(
    actor: Any, case: Case, relations: frozenset[CaseRelation], details: ReferralDetails, step: str
) -> Referral:
    """Save the referral's details as they are (save and return); checks that need everything wait for submission."""
    referral = _editable(actor, case, relations)
    if details.consent is not None and details.consent not in CONSENT:
        raise ReferralError("Select whether the victim knows about the referral and consents")
    referral.consent = details.consent
    referral.is_safe_to_call = details.is_safe_to_call
    for name in ("no_consent_reason", "safe_contact", "unsafe_contacts", "previous_marac", "judgement_reasons"):
        setattr(referral, name, (getattr(details, name) or "").strip() or None)
    referral.step = step
    db.session.flush()
    audit.record("referral.save", actor=actor, object_type="case", object_id=case.public_id, details={"step": step})
    return referral


def _editable(actor: Any, case: Case, relations: frozenset[CaseRelation]) -> Referral:
    if case.status not in (CaseStatus.DRAFT.value, CaseStatus.RETURNED.value):
        raise ReferralError("This referral has been submitted: it can no longer be changed")
    if not can_act_on_case(relations) or CaseRelation.REFERRING_AGENCY not in relations:
        raise ReferralError("Only the referring agency can change this referral")
    return _referral(case)


def latest_assessment(case: Case) -> RiskAssessment | None:
    """The case's most recent completed risk assessment."""
    return db.session.scalar(
        select(RiskAssessment)
        .where(RiskAssessment.case_id == case.id, RiskAssessment.status == "complete")
        .order_by(RiskAssessment.completed_at.desc(), RiskAssessment.id.desc())
        .limit(1)
    )


def submission_problems(case: Case, referral: Referral) -> list[str]:
    """What is missing before the referral can go to the supervisor (empty: it can go)."""
    problems = []
    if latest_assessment(case) is None:
        problems.append("Complete the risk assessment with the victim")
    perpetrators = db.session.scalar(
        select(func.count(CaseParty.id)).where(
            CaseParty.case_id == case.id, CaseParty.role == PartyRole.PERPETRATOR.value
        )
    )
    if not perpetrators:
        problems.append("Add the perpetrator (or perpetrators)")
    if referral.consent is None:
        problems.append("Say whether the victim knows about the referral and consents")
    elif referral.consent != "given" and len((referral.no_consent_reason or "").strip()) < MIN_REASON:
        problems.append(f"Explain why you are referring without consent (at least {MIN_REASON} characters)")
    if referral.judgement_reasons is not None and len(str(referral.judgement_reasons).strip()) < MIN_REASON:
        problems.append(f"Give your professional judgement reasons in full (at least {MIN_REASON} characters)")
    return problems


def submit_referral(actor: Any, case: Case, relations: frozenset[CaseRelation]) -> Referral:
    """Send the referral to the referrer's supervisor, with the MARAC criteria worked out now."""
    from marac.cases.criteria import evaluate

    referral = _editable(actor, case, relations)
    problems = submission_problems(case, referral)
    if problems:
        raise ReferralError("; ".join(problems))
    case.referred_on = db.london_today()  # the referral date is when it is made, not when the draft was begun
    result = evaluate(case, on=case.referred_on)
    referral.criteria = ",".join(result.keys)
    referral.submitted_at = db.utcnow()
    case.status = CaseStatus.AWAITING_SIGN_OFF.value
    db.session.flush()
    audit.record(
        "referral.submit",
        actor=actor,
        object_type="case",
        object_id=case.public_id,
        details={"criteria": referral.criteria},
    )
    return referral


def sign_off(actor: Any, case: Case) -> Referral:
    """The supervisor agrees the referral: it goes to the area's coordinator."""
    referral = _awaiting_sign_off(actor, case)
    referral.supervisor_id, referral.signed_off_at = actor.id, db.utcnow()
    case.status = CaseStatus.AWAITING_DECISION.value
    db.session.flush()
    audit.record("referral.sign_off", actor=actor, object_type="case", object_id=case.public_id)
    return referral


def return_referral(actor: Any, case: Case, comments: str) -> Referral:
    """The supervisor sends the referral back to the referrer with comments."""
    referral = _awaiting_sign_off(actor, case)
    if len(comments.strip()) < 10:
        raise ReferralError("Say what the referrer needs to change (at least 10 characters)")
    referral.supervisor_id, referral.returned_at = actor.id, db.utcnow()
    referral.return_comments = comments.strip()
    case.status = CaseStatus.RETURNED.value
    db.session.flush()
    audit.record("referral.return", actor=actor, object_type="case", object_id=case.public_id)
    return referral


def _awaiting_sign_off(actor: Any, case: Case) -> Referral:
    if not can_sign_off(actor, case, case.referred_by_id):
        raise ReferralError("Only a supervisor at the referring agency, other than the referrer, can sign this off")
    if case.status != CaseStatus.AWAITING_SIGN_OFF.value:
        raise ReferralError("This referral is not waiting for sign-off")
    return _referral(case)


def decide(
    actor: Any,
    case: Case,
    relations: frozenset[CaseRelation],
    decision: str,
    *,
    reason: str | None = None,
    signposting: str | None = None,
    duplicate_of: Case | None = None,
    idva: User | None = None,
) -> Referral:
    """The coordinator's decision: accept for MARAC (and allocate an IDVA), below threshold (with the reason and
    where the victim was signposted), or a duplicate of a live case for the same victim (linked to it)."""
    if not can_decide_referral(relations):
        raise ReferralError("Only the coordinator for this case's area can decide on it")
    if case.status != CaseStatus.AWAITING_DECISION.value:
        raise ReferralError("This referral is not waiting for a decision")
    if decision not in DECISIONS:
        raise ReferralError("Select a decision")
    referral = _referral(case)
    if decision == "below_threshold":
        if len((reason or "").strip()) < 10 or len((signposting or "").strip()) < 10:
            raise ReferralError("Give the reason and where the victim and referrer were signposted")
        referral.decision_reason, referral.signposting = (reason or "").strip(), (signposting or "").strip()
        case.status = CaseStatus.BELOW_THRESHOLD.value
    elif decision == "duplicate":
        live = live_episodes(case.victim, exclude=case, visible_to=actor)
        if duplicate_of is None or duplicate_of.id not in {c.id for c in live}:
            raise ReferralError("Choose the live case for the same victim that this referral duplicates")
        referral.duplicate_of_id = duplicate_of.id
        case.status = CaseStatus.DUPLICATE.value
    else:
        case.status = CaseStatus.OPEN.value
    referral.decision, referral.decided_by_id, referral.decided_at = decision, actor.id, db.utcnow()
    db.session.flush()
    audit.record(
        "referral.decide", actor=actor, object_type="case", object_id=case.public_id, details={"decision": decision}
    )
    if decision == "accepted" and idva is not None:
        allocate_idva(actor, case, relations, idva)
    return referral


def allocate_idva(actor: Any, case: Case, relations: frozenset[CaseRelation], idva: User) -> Case:
    """Assign the IDVA who will hold the victim's voice and safety plan."""
    if not can_decide_referral(relations):
        raise ReferralError("Only the coordinator for this case's area can allocate an IDVA")
    is_idva = any(r.role == Role.IDVA.value for r in idva.roles)
    if not is_idva or not idva.is_active:
        raise ReferralError("Choose an active IDVA")
    case.assigned_idva_id = idva.id
    db.session.flush()
    audit.record(
        "case.allocate_idva",
        actor=actor,
        object_type="case",
        object_id=case.public_id,
        details={"idva": idva.public_id},
    )
    return case


@dataclass
class Caseload:
    """An IDVA and the open cases they hold, against the 60-80 benchmark."""

    idva: User
    open_cases: int

    @property
    def band(self) -> str:
        """ "under", "within" or "over" the benchmark."""
        low, high = CASELOAD_RANGE
        return "under" if self.open_cases < low else "over" if self.open_cases > high else "within"


def idva_caseloads(area: Area) -> list[Caseload]:
    """Every active IDVA whose agency serves the area, with their open caseload, lightest first."""
    counts = (
        select(Case.assigned_idva_id, func.count(Case.id))
        .where(Case.status == CaseStatus.OPEN.value)
        .group_by(Case.assigned_idva_id)
    )
    held = {row[0]: int(row[1]) for row in db.session.execute(counts) if row[0] is not None}
    idvas = db.session.scalars(
        select(User).join(UserRole).where(UserRole.role == Role.IDVA.value, User.is_active).order_by(User.display_name)
    )
    result = [Caseload(u, held.get(u.id, 0)) for u in idvas if area.id in {a.id for a in (u.areas or u.agency.areas)}]
    return sorted(result, key=lambda c: (c.open_cases, c.idva.display_name))


@dataclass
class QueueItem:
    """A referral waiting for the coordinator."""

    case: Case
    referral: Referral
    waiting_since: datetime
    days_waiting: int

    @property
    def criteria(self) -> list[str]:
        """The criteria met, as keys."""
        return [c for c in self.referral.criteria.split(",") if c]


def coordinator_queue(actor: Any, status: str = CaseStatus.AWAITING_DECISION.value) -> list[QueueItem]:
    """Referrals in the actor's areas waiting for a decision (or for sign-off), oldest first."""
    since = Referral.signed_off_at if status == CaseStatus.AWAITING_DECISION.value else Referral.submitted_at
    rows = db.session.execute(
        select(Case, Referral)
        .join(Referral, Referral.case_id == Case.id)
        .options(selectinload(Case.victim), selectinload(Case.referring_agency), selectinload(Case.area))
        .where(Case.status == status, Case.area_id.in_(user_area_ids(actor)), visible_cases_clause(actor))
        .order_by(since.asc().nulls_last(), Case.id)
    ).all()
    today = db.london_today()
    items = []
    for case, referral in rows:
        started = (
            referral.signed_off_at if status == CaseStatus.AWAITING_DECISION.value else None
        ) or referral.submitted_at
        started = started or case.created_at
        items.append(QueueItem(case, referral, started, (today - started.astimezone(db.LONDON).date()).days))
    return items


def awaiting_sign_off_for(actor: Any) -> list[QueueItem]:
    """Referrals of the actor's agency waiting for sign-off, oldest first."""
    rows = db.session.execute(
        select(Case, Referral)
        .join(Referral, Referral.case_id == Case.id)
        .options(selectinload(Case.victim), selectinload(Case.area), selectinload(Case.referred_by))
        .where(Case.status == CaseStatus.AWAITING_SIGN_OFF.value, Case.referring_agency_id == actor.agency_id)
        .where(visible_cases_clause(actor))
        .order_by(Referral.submitted_at.asc().nulls_last(), Case.id)
    ).all()
    today = db.london_today()
    items = []
    for case, referral in rows:
        since = referral.submitted_at or case.created_at
        items.append(QueueItem(case, referral, since, (today - since.astimezone(db.LONDON).date()).days))
    return items


def find_referral(case: Case) -> Referral | None:
    """The case's referral, if it has one."""
    return db.session.scalar(select(Referral).where(Referral.case_id == case.id))


# --- look-ups for the safety plan and trigger pages ----------------------------------------------------------------


def case_work_owners(actor: Any, case: Case) -> list[User]:
    """Who may be named to own work on the case: the actor, the assigned IDVA and the area's coordinators."""
    candidates: list[User] = [actor]
    if case.assigned_idva is not None:
        candidates.append(case.assigned_idva)
    coordinators = db.session.scalars(
        select(User)
        .join(UserRole)
        .where(UserRole.role == Role.COORDINATOR.value, User.is_active)
        .order_by(User.display_name)
    )
    candidates += [u for u in coordinators if case.area_id in user_area_ids(u)]
    seen: set[int] = set()
    owners = []
    for user in candidates:
        if user.id not in seen and can_own_case_work(user, case):
            seen.add(user.id)
            owners.append(user)
    return owners


def latest_grades(case_ids: list[int]) -> dict[int, str | None]:
    """The grade of each case's latest completed risk assessment, in one query (list pages)."""
    if not case_ids:
        return {}
    rows = db.session.execute(
        select(RiskAssessment.case_id, RiskAssessment.grade, RiskAssessment.completed_at, RiskAssessment.id)
        .where(RiskAssessment.case_id.in_(case_ids), RiskAssessment.status == "complete")
        .order_by(RiskAssessment.completed_at, RiskAssessment.id)
    ).all()
    return {case_id: grade for case_id, grade, _at, _id in rows}  # the latest wins
