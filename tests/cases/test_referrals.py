"""A referral from start to the coordinator's decision: draft, submission, sign-off or return, decision, IDVA."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

import pytest
from flask import Flask

from marac import db
from marac.access import Role, case_relations
from marac.cases.models import Case, CaseStatus, PartyRole, Questionnaire, RiskAssessment
from marac.cases.referrals import (
    ReferralDetails,
    ReferralError,
    allocate_idva,
    coordinator_queue,
    decide,
    idva_caseloads,
    live_episodes,
    return_referral,
    save_details,
    sign_off,
    start_referral,
    submit_referral,
)
from marac.cases.services import add_party
from marac.orgs.models import AgencyKind, Area
from marac.people.models import PersonKind, Relationship
from marac.people.services import link_persons
from tests.conftest import FakeClock
from tests.factories import Account, make_agency, make_area, make_person, make_user, person_details

CONSENTED = ReferralDetails(consent="given", is_safe_to_call=True, safe_contact="Mobile after 6pm")


@dataclass
class World:
    """An area with a police referrer and supervisor, a coordinator, two IDVAs, and another area's coordinator."""

    area: Area
    referrer: Account
    supervisor: Account
    coordinator: Account
    idva: Account
    other_idva: Account
    elsewhere: Account


@pytest.fixture
def world(app: Flask) -> World:
    area = make_area()
    police = make_agency(AgencyKind.POLICE, [area])
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, [area])
    idva_service = make_agency(AgencyKind.IDVA_SERVICE, [area])
    far = make_area()
    return World(
        area=area,
        referrer=make_user(Role.REFERRER, agency=police),
        supervisor=make_user(Role.SUPERVISOR, agency=police),
        coordinator=make_user(Role.COORDINATOR, agency=council),
        idva=make_user(Role.IDVA, agency=idva_service),
        other_idva=make_user(Role.IDVA, agency=idva_service),
        elsewhere=make_user(Role.COORDINATOR, agency=make_agency(AgencyKind.LOCAL_AUTHORITY, [far])),
    )


def signed_in(account: Account) -> object:
    """The account's user, acting as when signed in."""
    account.user.auth_token = "test"
    return account.user


def _assessment(case: Case, score: int) -> None:
    questionnaire = db.session.query(Questionnaire).filter_by(key="test-rc").one_or_none()
    if questionnaire is None:
        questionnaire = Questionnaire(key="test-rc", version=1, name="Test", scale="yes_no", definition={})
        db.session.add(questionnaire)
        db.session.flush()
    assessment = RiskAssessment(
        case_id=case.id,
        questionnaire_id=questionnaire.id,
        status="complete",
        score=score,
        score_grade="high" if score >= 14 else "medium",
        grade="high" if score >= 14 else "medium",
        completed_at=db.utcnow(),
    )
    assessment.answers = json.dumps({})
    db.session.add(assessment)
    db.session.flush()


def ready_referral(world: World, score: int = 15, **victim: object) -> Case:
    """A draft referral with a perpetrator, consent and a completed assessment: ready to submit."""
    user = signed_in(world.referrer)
    case = start_referral(user, area=world.area, victim=person_details(**victim))
    perpetrator = make_person(PersonKind.PERPETRATOR, actor=user)
    add_party(user, case, perpetrator, PartyRole.PERPETRATOR, Relationship.EX_PARTNER)
    save_details(user, case, case_relations(user, case), CONSENTED, "check")
    _assessment(case, score)
    return case


def submitted(world: World, score: int = 15) -> Case:
    case = ready_referral(world, score)
    user = signed_in(world.referrer)
    submit_referral(user, case, case_relations(user, case))
    return case


def signed_off(world: World) -> Case:
    case = submitted(world)
    sign_off(signed_in(world.supervisor), case)
    return case


def test_a_draft_referral_belongs_to_the_referring_agency_alone(world: World) -> None:
    case = start_referral(signed_in(world.referrer), area=world.area, victim=person_details())

    assert case.status == CaseStatus.DRAFT.value
    assert case_relations(signed_in(world.referrer), case)
    assert case_relations(signed_in(world.coordinator), case) == frozenset()


def test_a_victim_under_16_is_refused_with_where_to_go_instead(world: World) -> None:
    young = person_details(date_of_birth=db.london_today() - timedelta(days=365 * 15))

    with pytest.raises(ReferralError, match=r"16 and over.*children's social care"):
        start_referral(signed_in(world.referrer), area=world.area, victim=young)


def test_a_victim_turning_16_today_may_be_referred(world: World) -> None:
    today = db.london_today()
    sixteen = person_details(date_of_birth=today.replace(year=today.year - 16))

    assert start_referral(signed_in(world.referrer), area=world.area, victim=sixteen).status == "draft"


def test_referring_to_an_area_the_user_does_not_work_in_is_refused(world: World) -> None:
    with pytest.raises(ReferralError, match="area you work in"):
        start_referral(signed_in(world.referrer), area=make_area(), victim=person_details())


def test_submission_lists_everything_still_missing(world: World) -> None:
    user = signed_in(world.referrer)
    case = start_referral(user, area=world.area, victim=person_details())

    with pytest.raises(ReferralError) as refused:
        submit_referral(user, case, case_relations(user, case))

    message = str(refused.value)
    assert "Complete the risk assessment" in message
    assert "Add the perpetrator" in message
    assert "knows about the referral and consents" in message
    assert case.status == CaseStatus.DRAFT.value


def test_referring_without_consent_needs_the_reason(world: World) -> None:
    case = ready_referral(world)
    user = signed_in(world.referrer)
    save_details(user, case, case_relations(user, case), ReferralDetails(consent="not_sought"), "consent")

    with pytest.raises(ReferralError, match="referring without consent"):
        submit_referral(user, case, case_relations(user, case))

    reason = ReferralDetails(consent="not_sought", no_consent_reason="Asking her would alert the perpetrator")
    save_details(user, case, case_relations(user, case), reason, "consent")
    submit_referral(user, case, case_relations(user, case))
    assert case.status == CaseStatus.AWAITING_SIGN_OFF.value


def test_submission_works_out_the_criteria_and_waits_for_sign_off(world: World) -> None:
    case = submitted(world, score=15)

    assert case.status == CaseStatus.AWAITING_SIGN_OFF.value
    assert "visible_high_risk" in case_referral(case).criteria
    user = signed_in(world.referrer)
    with pytest.raises(ReferralError, match="can no longer be changed"):
        save_details(user, case, case_relations(user, case), CONSENTED, "check")


def case_referral(case: Case):  # type: ignore[no-untyped-def]
    from marac.cases.models import Referral

    return db.session.query(Referral).filter_by(case_id=case.id).one()


def test_the_supervisor_signs_off_and_the_coordinator_then_sees_it(world: World) -> None:
    case = submitted(world)
    assert case_relations(signed_in(world.coordinator), case)  # submitted: the area's coordinator may see it

    sign_off(signed_in(world.supervisor), case)

    assert case.status == CaseStatus.AWAITING_DECISION.value
    assert case_referral(case).supervisor_id == world.supervisor.user.id
    assert [item.case.id for item in coordinator_queue(signed_in(world.coordinator))] == [case.id]
    assert coordinator_queue(signed_in(world.elsewhere)) == []


@pytest.mark.parametrize("who", ["referrer", "coordinator", "other agency's supervisor"])
def test_only_a_supervisor_at_the_referring_agency_signs_off(world: World, who: str) -> None:
    case = submitted(world)
    actor = {
        "referrer": lambda: signed_in(world.referrer),
        "coordinator": lambda: signed_in(world.coordinator),
        "other agency's supervisor": lambda: signed_in(make_user(Role.SUPERVISOR, agency=make_agency())),
    }[who]()

    with pytest.raises(ReferralError, match="supervisor at the referring agency"):
        sign_off(actor, case)
    assert case.status == CaseStatus.AWAITING_SIGN_OFF.value


def test_a_returned_referral_goes_back_to_the_referrer_with_comments_and_can_be_resubmitted(world: World) -> None:
    case = submitted(world)
    supervisor = signed_in(world.supervisor)

    with pytest.raises(ReferralError, match="what the referrer needs to change"):
        return_referral(supervisor, case, "no")
    return_referral(supervisor, case, "Add the children's school and the second phone number")

    assert case.status == CaseStatus.RETURNED.value
    assert case_referral(case).return_comments == "Add the children's school and the second phone number"
    assert case_relations(signed_in(world.coordinator), case) == frozenset()  # back with the referrer only
    user = signed_in(world.referrer)
    submit_referral(user, case, case_relations(user, case))
    assert case.status == CaseStatus.AWAITING_SIGN_OFF.value


def test_accepting_a_referral_opens_the_case_and_allocates_the_idva(world: World) -> None:
    case = signed_off(world)
    coordinator = signed_in(world.coordinator)

    decide(coordinator, case, case_relations(coordinator, case), "accepted", idva=world.idva.user)

    assert case.status == CaseStatus.OPEN.value
    assert case.assigned_idva_id == world.idva.user.id
    assert case_referral(case).decision == "accepted"
    loads = {c.idva.id: c.open_cases for c in idva_caseloads(world.area)}
    assert loads == {world.idva.user.id: 1, world.other_idva.user.id: 0}


def test_below_threshold_needs_a_reason_and_signposting(world: World) -> None:
    case = signed_off(world)
    coordinator = signed_in(world.coordinator)
    relations = case_relations(coordinator, case)

    with pytest.raises(ReferralError, match="reason and where"):
        decide(coordinator, case, relations, "below_threshold", reason="Score 8")
    decide(
        coordinator,
        case,
        relations,
        "below_threshold",
        reason="Score 8, no escalation, no professional judgement",
        signposting="Local outreach service and the IDVA helpline",
    )

    assert case.status == CaseStatus.BELOW_THRESHOLD.value
    assert case_referral(case).signposting == "Local outreach service and the IDVA helpline"


def test_a_duplicate_links_to_the_live_case_of_the_same_victim_found_by_matching(world: World) -> None:
    first = signed_off(world)
    coordinator = signed_in(world.coordinator)
    decide(coordinator, first, case_relations(coordinator, first), "accepted")
    victim = first.victim
    second = ready_referral(
        world, given_name=victim.given_name, family_name=victim.family_name, date_of_birth=victim.date_of_birth
    )
    link_persons(signed_in(world.referrer), second.victim, victim)
    assert [c.id for c in live_episodes(second.victim, exclude=second)] == [first.id]
    user = signed_in(world.referrer)
    submit_referral(user, second, case_relations(user, second))
    sign_off(signed_in(world.supervisor), second)

    with pytest.raises(ReferralError, match="live case for the same victim"):
        decide(coordinator, second, case_relations(coordinator, second), "duplicate", duplicate_of=second)
    decide(coordinator, second, case_relations(coordinator, second), "duplicate", duplicate_of=first)

    assert second.status == CaseStatus.DUPLICATE.value
    assert case_referral(second).duplicate_of_id == first.id


def test_only_the_areas_coordinator_decides_and_only_once(world: World) -> None:
    case = signed_off(world)
    idva = signed_in(world.idva)

    with pytest.raises(ReferralError, match="coordinator for this case's area"):
        decide(idva, case, case_relations(idva, case), "accepted")
    coordinator = signed_in(world.coordinator)
    decide(coordinator, case, case_relations(coordinator, case), "accepted")
    with pytest.raises(ReferralError, match="not waiting for a decision"):
        decide(coordinator, case, case_relations(coordinator, case), "accepted")


def test_only_an_active_idva_can_be_allocated(world: World) -> None:
    case = signed_off(world)
    coordinator = signed_in(world.coordinator)
    decide(coordinator, case, case_relations(coordinator, case), "accepted")

    with pytest.raises(ReferralError, match="active IDVA"):
        allocate_idva(coordinator, case, case_relations(coordinator, case), world.referrer.user)


def test_the_queue_shows_the_oldest_referral_first_with_days_waiting(world: World, clock: FakeClock) -> None:
    older = signed_off(world)
    clock.advance(days=3)
    newer = signed_off(world)
    clock.advance(days=1)

    queue = coordinator_queue(signed_in(world.coordinator))

    assert [(item.case.id, item.days_waiting) for item in queue] == [(older.id, 4), (newer.id, 1)]


def test_the_queue_flags_a_repeat_and_high_risk_with_a_fixed_number_of_queries(
    world: World, app: Flask, clock: FakeClock
) -> None:
    from sqlalchemy import event

    from marac.cases.casework_views.common import waiting_rows
    from marac.cases.services import open_case

    cases = [signed_off(world) for _ in range(3)]
    coordinator = signed_in(world.coordinator)
    earlier = open_case(
        coordinator,
        area=world.area,
        victim=cases[0].victim,
        referring_agency=world.coordinator.user.agency,
        referred_on=db.london_today() - timedelta(days=100),
    )
    assert earlier.id
    statements: list[str] = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731 - (conn, cursor, statement, ...)
    event.listen(db.get_engine(), "before_cursor_execute", listener)
    try:
        rows = waiting_rows(coordinator_queue(coordinator))
    finally:
        event.remove(db.get_engine(), "before_cursor_execute", listener)

    assert {r.case.id for r in rows if r.is_repeat} == {cases[0].id}
    assert {r.grade for r in rows} == {"high"}
    assert len(statements) <= 10  # a fixed handful, not several per row
