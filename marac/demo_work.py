"""Demo case work: referrals at every stage, risk assessments, safety plans and trigger reviews, some overdue, so
the queues and overdue lists are never empty in the demo. Uses the real services; dates relative to today."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from marac import db
from marac.access import acting_offline, case_relations
from marac.auth.models import User
from marac.cases.models import Case, CaseStatus, PartyRole, Referral
from marac.cases.plans import create_safety_plan, record_trigger
from marac.cases.questionnaires import active_questionnaire, questions_of
from marac.cases.referrals import ReferralDetails, save_details, sign_off, start_referral, submit_referral
from marac.cases.risk import complete_assessment, save_answers, start_assessment
from marac.cases.services import add_party
from marac.orgs.models import Area
from marac.people.models import PersonKind, Relationship
from marac.people.services import PersonDetails, record_person

#: (stage, days since it reached that stage, DASH "yes" answers) for the referrals in the pipeline.
PIPELINE = [
    ("draft", 0, 0),
    ("draft", 2, 0),
    ("awaiting_sign_off", 1, 16),
    ("awaiting_sign_off", 6, 12),
    ("awaiting_decision", 0, 15),
    ("awaiting_decision", 5, 17),
    ("awaiting_decision", 9, 11),
]


@dataclass
class WorkStats:
    """What was seeded (counts only)."""

    referrals: int = 0
    safety_plans: int = 0
    overdue_plans: int = 0
    trigger_reviews: int = 0
    overdue_reviews: int = 0


def seed_casework(
    area: Area, users: dict[str, User], victims: list[PersonDetails], perps: list[PersonDetails]
) -> WorkStats:
    """Referrals in `area` at each stage, and safety plans and trigger reviews on the IDVA's open cases."""
    stats = WorkStats()
    with acting_offline(users.values()):
        for (stage, days, yes), victim, perp in zip(PIPELINE, victims, perps, strict=False):
            _referral(area, users, stage, days, yes, victim, perp)
            stats.referrals += 1
        _plans_and_triggers(users["idva"], stats)
    return stats


def accepted_referrals(
    area: Area, users: dict[str, User], victims: list[PersonDetails], perps: list[PersonDetails]
) -> list[Case]:
    """High-risk referrals through the whole journey, accepted by the coordinator with the IDVA allocated: the cases
    the demo's upcoming agendas are built from."""
    from marac.cases.referrals import decide

    cases = []
    with acting_offline(users.values()):
        for number, (victim, perp) in enumerate(zip(victims, perps, strict=True)):
            case = _referral(area, users, "awaiting_decision", 1 + number % 4, 14 + number % 5, victim, perp)
            coordinator = users["coordinator"]
            decide(coordinator, case, case_relations(coordinator, case), "accepted", idva=users["idva"])
            cases.append(case)
    db.session.flush()
    return cases


def _referral(
    area: Area, users: dict[str, User], stage: str, days: int, yes: int, victim: PersonDetails, perp: PersonDetails
) -> Case:
    referrer = users["referrer"]
    case = start_referral(referrer, area=area, victim=victim)
    perpetrator = record_person(referrer, PersonKind.PERPETRATOR, perp)
    add_party(referrer, case, perpetrator, PartyRole.PERPETRATOR, Relationship.EX_PARTNER)
    relations = case_relations(referrer, case)
    details = ReferralDetails(consent="given", is_safe_to_call=True, safe_contact="Mobile, weekdays after 5pm")
    save_details(referrer, case, relations, details, "details")
    if stage == "draft":
        return case
    questionnaire = active_questionnaire("dash-ric")
    assert questionnaire is not None
    assessment = start_assessment(referrer, case, questionnaire)
    keys = [q["key"] for q in questions_of(questionnaire.definition)]
    save_answers(
        referrer, assessment, {k: "yes" if i < yes else "no" for i, k in enumerate(keys)}, "That he will find her"
    )
    complete_assessment(referrer, assessment, area, raise_to_high=False, judgement_reasons=None)
    submit_referral(referrer, case, relations)
    referral = db.session.scalars(select(Referral).where(Referral.case_id == case.id)).one()
    if stage == "awaiting_decision":
        sign_off(users["supervisor"], case)
        referral.signed_off_at = db.utcnow() - timedelta(days=days)
        referral.submitted_at = referral.signed_off_at - timedelta(days=1)
    else:
        referral.submitted_at = db.utcnow() - timedelta(days=days)
    return case


def _plans_and_triggers(idva: User, stats: WorkStats) -> None:
    """Safety plans owned by the IDVA on their recent open cases; some reviews have been missed."""
    today = db.london_today()
    cases = db.session.scalars(
        select(Case)
        .where(Case.assigned_idva_id == idva.id, Case.status == CaseStatus.OPEN.value)
        .order_by(Case.referred_on.desc())
        .limit(12)
    ).all()
    for number, case in enumerate(cases):
        relations = case_relations(idva, case)
        plan = create_safety_plan(
            idva,
            case,
            relations,
            owner=idva,
            measures=["personal_alarm", "police_marker", "safe_phone"][: 1 + number % 3],
            detail="Agreed with the victim at the last contact",
            review_on=today + timedelta(days=14),
        )
        stats.safety_plans += 1
        if number % 3 == 0:  # a review that was missed (backdated: the service only takes future dates)
            plan.review_on = today - timedelta(days=2 + number)
            stats.overdue_plans += 1
        if number % 2 == 0:
            event = record_trigger(
                idva, case, relations, kind="released_from_custody", occurred_on=today, note="Released on licence"
            )
            stats.trigger_reviews += 1
            if number % 4 == 0:
                event.occurred_on = today - timedelta(days=5)
                event.review_due_on = today - timedelta(days=4)
                stats.overdue_reviews += 1
    db.session.flush()
