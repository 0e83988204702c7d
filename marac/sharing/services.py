"""Disclosures with their lawful basis, the must-not-receive check, and break-glass with DPO review."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import func, select

from marac import audit, db
from marac.access import CaseRelation, can_act_on_case, can_review_break_glass, case_relations
from marac.auth.models import User
from marac.auth.services import claim_attempt, record_failure, release_attempt, use_totp_code
from marac.cases.models import Case, CaseParty, PartyRole
from marac.orgs.models import Agency
from marac.people.matching import normalise_email, normalise_phone
from marac.sharing.models import BreakGlassGrant, Disclosure, MustNotReceive

#: What part of a case a disclosure covers.
PARTS = {
    "summary": "Case summary (reference, area, referral date, flags)",
    "victim": "Victim's identity details",
    "household": "Perpetrators, children and household",
    "safe_contact": "Safe contact details",
    "health": "Health detail",
    "risk": "Risk information and history",
}
#: UK GDPR Article 6(1) lawful bases.
ARTICLE6 = {
    "consent": "6(1)(a) consent",
    "legal_obligation": "6(1)(c) legal obligation",
    "vital_interests": "6(1)(d) vital interests",
    "public_task": "6(1)(e) public task",
    "legitimate_interests": "6(1)(f) legitimate interests",
}
#: Article 9 / DPA 2018 Schedule 1 conditions, and the Crime and Disorder Act 1998 power.
CONDITIONS = {
    "explicit_consent": "Article 9(2)(a) explicit consent",
    "vital_interests": "Article 9(2)(c) vital interests",
    "sch1_para6": "Article 9(2)(g), DPA 2018 Sch. 1 para 6: statutory and government purposes",
    "sch1_para10": "Article 9(2)(g), DPA 2018 Sch. 1 para 10: preventing or detecting unlawful acts",
    "sch1_para18": "Article 9(2)(g), DPA 2018 Sch. 1 para 18: safeguarding of children and individuals at risk",
    "health_social_care": "Article 9(2)(h) health or social care",
    "s115": "Crime and Disorder Act 1998 section 115",
}
CONSENT = {
    "given": "Given",
    "refused": "Refused: sharing without consent",
    "not_sought": "Not sought: sharing without consent",
}
MIN_REASON = 20
REVIEW_OUTCOMES = {"justified": "Use was justified", "not_justified": "Use was not justified"}


class SharingError(ValueError):
    """A disclosure or break-glass request that cannot be made; the message says why."""


class NotVisible(LookupError):
    """The case does not exist or the actor may not see it (the view answers 404)."""


# --- must not receive ----------------------------------------------------------------------------------------------


def must_not_receive_problem(
    case: Case, *, user: User | None = None, email: str | None = None, phone: str | None = None
) -> str | None:
    """Why nothing about `case` may go to this recipient, or None. Checks user accounts on the list and the email
    and phones of every listed person (perpetrators are always listed)."""
    entries = list(db.session.scalars(select(MustNotReceive).where(MustNotReceive.case_id == case.id)))
    if user is not None and any(e.user_id == user.id for e in entries):
        return "This recipient is on the case's must-not-receive list"
    emails = {normalise_email(x) for x in [email, user.email if user else None] if x}
    phones = {normalise_phone(phone)} if phone else set()
    people = [e.person for e in entries if e.person is not None]
    perpetrators = db.session.scalars(
        select(CaseParty).where(CaseParty.case_id == case.id, CaseParty.role == PartyRole.PERPETRATOR.value)
    )
    people.extend(p.person for p in perpetrators)
    for person in people:
        listed_email = normalise_email(person.email) if isinstance(person.email, str) else None
        listed_phones = {normalise_phone(p) for p in person.phones} if isinstance(person.phones, list) else set()
        if (listed_email and listed_email in emails) or (listed_phones & phones - {None}):
            return "This recipient matches someone on the case's must-not-receive list"
    return None


def add_user_to_must_not_receive(
    actor: Any, case: Case, relations: frozenset[CaseRelation], user: User
) -> MustNotReceive:
    """Bar a user account from the case (e.g. the perpetrator or an associate works at a partner agency)."""
    if not can_act_on_case(relations):
        raise SharingError("Only those working on the case can change its must-not-receive list")
    entry = MustNotReceive(case_id=case.id, user_id=user.id, created_by_id=getattr(actor, "id", None))
    db.session.add(entry)
    db.session.flush()
    audit.record(
        "case.must_not_receive_add",
        actor=actor,
        object_type="case",
        object_id=case.public_id,
        details={"user": user.public_id},
    )
    return entry


# --- disclosures ---------------------------------------------------------------------------------------------------


def record_disclosure(
    actor: Any,
    case: Case,
    relations: frozenset[CaseRelation],
    *,
    to_agency: Agency,
    parts: list[str],
    purpose: str,
    article6_basis: str,
    special_condition: str,
    consent: str,
    no_consent_reason: str | None = None,
    recipient: User | None = None,
) -> Disclosure:
    """Share (part of) a case with another agency, recording purpose, lawful basis and consent. The recipient
    agency's practitioners can then see the case; the must-not-receive list is checked first."""
    _check_disclosure(actor, relations, to_agency, parts, purpose, article6_basis, special_condition, consent)
    reason = (no_consent_reason or "").strip()
    if consent != "given" and len(reason) < MIN_REASON:
        raise SharingError(f"Explain why you are sharing without consent (at least {MIN_REASON} characters)")
    if recipient is not None and recipient.agency_id != to_agency.id:
        raise SharingError("The named recipient does not work for that agency")
    problem = must_not_receive_problem(case, user=recipient)
    if problem:
        raise SharingError(problem)
    barred = _bar_matching_practitioners(actor, case, to_agency) if recipient is None else 0
    disclosure = Disclosure(
        case_id=case.id,
        from_agency_id=actor.agency_id,
        to_agency_id=to_agency.id,
        recipient_id=recipient.id if recipient else None,
        parts=",".join(p for p in PARTS if p in parts),
        article6_basis=article6_basis,
        special_condition=special_condition,
        consent=consent,
        disclosed_by_id=actor.id,
        disclosed_at=db.utcnow(),
    )
    disclosure.purpose = purpose.strip()
    disclosure.no_consent_reason = reason if consent != "given" else None
    db.session.add(disclosure)
    db.session.flush()
    audit.record(
        "disclosure.create",
        actor=actor,
        object_type="case",
        object_id=case.public_id,
        details={
            "disclosure": disclosure.public_id,
            "to_agency": to_agency.public_id,
            "parts": disclosure.parts,
            "article6": article6_basis,
            "condition": special_condition,
            "consent": consent,
            "barred_accounts": barred,
        },
    )
    disclosure.barred_accounts = barred
    return disclosure


def _bar_matching_practitioners(actor: Any, case: Case, agency: Agency) -> int:
    """Before a case goes to a whole agency: put on the must-not-receive list every account there that matches
    someone on it (a perpetrator or associate working at that agency), so the disclosure cannot reach them."""
    users = db.session.scalars(select(User).where(User.agency_id == agency.id, User.is_active))
    barred = 0
    for user in users:
        problem = must_not_receive_problem(case, user=user)
        already = db.session.scalar(
            select(MustNotReceive.id).where(MustNotReceive.case_id == case.id, MustNotReceive.user_id == user.id)
        )
        if problem and already is None:
            db.session.add(MustNotReceive(case_id=case.id, user_id=user.id, created_by_id=getattr(actor, "id", None)))
            audit.record(
                "case.must_not_receive_add",
                actor=actor,
                object_type="case",
                object_id=case.public_id,
                details={"user": user.public_id, "reason": "matches_listed_person"},
            )
            barred += 1
    db.session.flush()
    return barred


def _check_disclosure(
    actor: Any,
    relations: frozenset[CaseRelation],
    to_agency: Agency,
    parts: list[str],
    purpose: str,
    article6_basis: str,
    special_condition: str,
    consent: str,
) -> None:
    if not can_act_on_case(relations):
        raise SharingError("Only those working on the case can share it: you can see it but not pass it on")
    if to_agency.id == actor.agency_id:
        raise SharingError("Choose another agency: your own agency's access is decided by its relationship to the case")
    if not to_agency.is_active:
        raise SharingError("That agency is no longer active")
    if not parts or any(p not in PARTS for p in parts):
        raise SharingError("Select what you are sharing")
    if len(purpose.strip()) < 10:
        raise SharingError("Describe the purpose of sharing (at least 10 characters)")
    if article6_basis not in ARTICLE6 or special_condition not in CONDITIONS or consent not in CONSENT:
        raise SharingError("Select the lawful basis, condition and consent")
    if article6_basis == "consent" and consent != "given":
        raise SharingError("Consent cannot be the lawful basis when the victim has not given it")
    if special_condition == "explicit_consent" and consent != "given":
        raise SharingError("Explicit consent cannot be the condition when the victim has not given it")


def disclosures_for_case(case: Case) -> list[Disclosure]:
    """Every disclosure of a case, newest first."""
    return list(
        db.session.scalars(
            select(Disclosure).where(Disclosure.case_id == case.id).order_by(Disclosure.disclosed_at.desc())
        )
    )


def cases_with_disclosures(page: int = 1, per_page: int = 50) -> tuple[list[tuple[Case, int, datetime]], int]:
    """Cases that have been disclosed, with how many disclosures and the latest, for the DPO."""
    total = db.session.scalar(select(func.count(func.distinct(Disclosure.case_id)))) or 0
    rows = db.session.execute(
        select(Case, func.count(Disclosure.id), func.max(Disclosure.disclosed_at))
        .join(Disclosure, Disclosure.case_id == Case.id)
        .group_by(Case.id)
        .order_by(func.max(Disclosure.disclosed_at).desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return [(r[0], int(r[1]), r[2]) for r in rows], total


# --- break-glass ---------------------------------------------------------------------------------------------------


def start_break_glass(actor: User, public_id: str, reason: str, code: str, now: datetime) -> BreakGlassGrant:
    """Emergency read access to one case: a reason and a fresh authenticator code give access for the configured
    hours; the DPO must review it. Wrong codes count towards the sign-in lockout."""
    case = db.session.scalar(select(Case).where(Case.public_id == public_id))
    reason = reason.strip()
    if len(reason) < MIN_REASON:
        raise SharingError(f"Give the reason you need emergency access (at least {MIN_REASON} characters)")
    count = claim_attempt(actor, now)
    if count is None:
        raise SharingError("Your account is locked after too many wrong codes: try again later")
    if actor.totp_secret is None or not use_totp_code(actor, actor.totp_secret, code, now):
        record_failure(actor, count, now, "break_glass")
        raise SharingError("The code is wrong or has been used: enter the current code from your authenticator app")
    release_attempt(actor, count)
    if case is None:
        raise NotVisible(public_id)
    existing = case_relations(actor, case, now)
    if existing - {CaseRelation.BREAK_GLASS}:
        raise SharingError("You already have access to this case")
    from marac.access import is_excluded

    if is_excluded(actor, case):
        raise NotVisible(public_id)
    hours = int(current_app.config["MARAC_BREAK_GLASS_HOURS"])
    grant = BreakGlassGrant(case_id=case.id, user_id=actor.id, granted_at=now, expires_at=now + timedelta(hours=hours))
    grant.reason = reason
    db.session.add(grant)
    db.session.flush()
    audit.record(
        "break_glass.start",
        actor=actor,
        object_type="case",
        object_id=case.public_id,
        purpose="break_glass",
        details={"grant": grant.public_id, "hours": hours},
    )
    return grant


def break_glass_awaiting_review() -> int:
    """How many break-glass uses the DPO has still to review (the DPO's alert)."""
    return db.session.scalar(select(func.count(BreakGlassGrant.id)).where(BreakGlassGrant.reviewed_at.is_(None))) or 0


def list_break_glass(*, awaiting_only: bool = False, limit: int = 200) -> list[BreakGlassGrant]:
    """Break-glass uses, those awaiting review first, newest first."""
    query = select(BreakGlassGrant)
    if awaiting_only:
        query = query.where(BreakGlassGrant.reviewed_at.is_(None))
    query = query.order_by(BreakGlassGrant.reviewed_at.is_not(None), BreakGlassGrant.granted_at.desc())
    return list(db.session.scalars(query.limit(limit)))


def get_grant(public_id: str) -> BreakGlassGrant | None:
    """A break-glass grant by public id."""
    return db.session.scalar(select(BreakGlassGrant).where(BreakGlassGrant.public_id == public_id))


def reads_during(grant: BreakGlassGrant) -> int:
    """How many pages of the case (the case itself and its people) were read under this grant, from the audit."""
    from marac.audit.models import AuditEvent
    from marac.people.models import Person

    people = select(Person.public_id).join(CaseParty, CaseParty.person_id == Person.id)
    objects = [grant.case.public_id, *db.session.scalars(people.where(CaseParty.case_id == grant.case_id))]
    return (
        db.session.scalar(
            select(func.count(AuditEvent.seq)).where(
                AuditEvent.actor_user_id == grant.user_id,
                AuditEvent.action.in_(["case.view", "person.view"]),
                AuditEvent.object_id.in_(objects),
                AuditEvent.purpose == "break_glass",
                AuditEvent.occurred_at >= grant.granted_at,
                AuditEvent.occurred_at <= grant.expires_at,
            )
        )
        or 0
    )


def review_break_glass(actor: User, grant: BreakGlassGrant, outcome: str, note: str) -> BreakGlassGrant:
    """The DPO's review of one use: justified or not, with a note (required when not justified)."""
    if not can_review_break_glass(actor, grant):
        if grant.user_id == getattr(actor, "id", None):
            raise SharingError("You cannot review your own use of emergency access: another DPO must")
        raise SharingError("Only a data protection officer can review emergency access")
    if grant.reviewed_at is not None:
        raise SharingError("This use has already been reviewed")
    if outcome not in REVIEW_OUTCOMES:
        raise SharingError("Select whether the use was justified")
    note = note.strip()
    if outcome == "not_justified" and len(note) < 10:
        raise SharingError("Say what follows from an unjustified use (at least 10 characters)")
    grant.reviewed_at, grant.reviewed_by_id, grant.review_outcome = db.utcnow(), actor.id, outcome
    grant.review_note = note or None
    if outcome == "not_justified" and grant.expires_at > grant.reviewed_at:
        grant.expires_at = grant.reviewed_at  # access ends at once
    db.session.flush()
    audit.record(
        "break_glass.review",
        actor=actor,
        object_type="break_glass",
        object_id=grant.public_id,
        details={"outcome": outcome, "case": grant.case.public_id},
    )
    return grant


def withdraw_disclosure(actor: Any, relations: frozenset[CaseRelation], disclosure: Disclosure) -> Disclosure:
    """End the access a disclosure gave (what was already seen stays seen; the record of it stays for the DPO)."""
    if not can_act_on_case(relations):
        raise SharingError("Only those working on the case can withdraw a disclosure")
    if disclosure.withdrawn_at is not None:
        raise SharingError("This disclosure has already been withdrawn")
    disclosure.withdrawn_at = db.utcnow()
    db.session.flush()
    audit.record(
        "disclosure.withdraw",
        actor=actor,
        object_type="case",
        object_id=disclosure.case.public_id,
        details={"disclosure": disclosure.public_id, "to_agency": disclosure.to_agency.public_id},
    )
    return disclosure


def bar_user_by_email(actor: Any, case: Case, relations: frozenset[CaseRelation], email: str) -> MustNotReceive:
    """Put a platform account on the case's must-not-receive list by its sign-in email."""
    from marac.auth.services import find_user_by_email

    user = find_user_by_email(email)
    if user is None:
        raise SharingError("There is no account with that email address")
    if user.id == getattr(actor, "id", None):
        raise SharingError("You cannot bar your own account")
    already = db.session.scalar(
        select(MustNotReceive.id).where(MustNotReceive.case_id == case.id, MustNotReceive.user_id == user.id)
    )
    if already is not None:
        raise SharingError("That account is already on the list")
    return add_user_to_must_not_receive(actor, case, relations, user)


def must_not_receive_entries(case: Case) -> list[MustNotReceive]:
    """The case's must-not-receive list, oldest first."""
    return list(
        db.session.scalars(select(MustNotReceive).where(MustNotReceive.case_id == case.id).order_by(MustNotReceive.id))
    )
