"""The casework pages: sign-off, the coordinator's queue and decision, safety plans, triggers and overdue lists."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import func, select

from marac import db
from marac.access import Role, acting_offline, case_relations
from marac.cases.models import (
    Case,
    CaseEvent,
    CaseStatus,
    Incident,
    PartyRole,
    Questionnaire,
    Referral,
    RiskAssessment,
)
from marac.cases.referrals import ReferralDetails, save_details, sign_off, start_referral, submit_referral
from marac.cases.services import add_party
from marac.orgs.models import AgencyKind, Area
from marac.people.models import PersonKind, Relationship
from marac.sharing.models import MustNotReceive
from tests.conftest import FakeClock
from tests.factories import (
    Account,
    login_as,
    make_agency,
    make_area,
    make_case,
    make_disclosure,
    make_person,
    make_safety_plan,
    make_user,
    person_details,
    post_form,
)

CONSENTED = ReferralDetails(consent="given", is_safe_to_call=True, safe_contact="Mobile after 6pm")
COMMENTS = "Add the children's school and the perpetrator's date of birth"


@dataclass
class World:
    """An area with a police referrer and supervisor, a coordinator, an IDVA, and another area's coordinator."""

    area: Area
    referrer: Account
    supervisor: Account
    coordinator: Account
    idva: Account
    elsewhere: Account


@pytest.fixture
def world(app: Flask) -> World:
    area = make_area()
    police = make_agency(AgencyKind.POLICE, [area])
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, [area])
    idva_service = make_agency(AgencyKind.IDVA_SERVICE, [area])
    return World(
        area=area,
        referrer=make_user(Role.REFERRER, agency=police),
        supervisor=make_user(Role.SUPERVISOR, agency=police),
        coordinator=make_user(Role.COORDINATOR, agency=council),
        idva=make_user(Role.IDVA, agency=idva_service),
        elsewhere=make_user(Role.COORDINATOR, agency=make_agency(AgencyKind.LOCAL_AUTHORITY, [make_area()])),
    )


def _assessment(case: Case, score: int) -> None:
    questionnaire = db.session.scalar(select(Questionnaire).where(Questionnaire.key == "test-pages"))
    if questionnaire is None:
        questionnaire = Questionnaire(key="test-pages", version=1, name="Test", scale="yes_no", definition={})
        db.session.add(questionnaire)
        db.session.flush()
    grade = "high" if score >= 14 else "medium"
    assessment = RiskAssessment(
        case_id=case.id,
        questionnaire_id=questionnaire.id,
        status="complete",
        score=score,
        score_grade=grade,
        grade=grade,
        completed_at=db.utcnow(),
    )
    assessment.answers = json.dumps({})
    db.session.add(assessment)
    db.session.flush()


def submitted(world: World, score: int = 16) -> Case:
    """A referral submitted by the police referrer, waiting for their supervisor."""
    user = world.referrer.user
    with acting_offline([user]):
        case = start_referral(user, area=world.area, victim=person_details(given_name="Maya", family_name="Okafor"))
        perpetrator = make_person(PersonKind.PERPETRATOR, actor=user)
        add_party(user, case, perpetrator, PartyRole.PERPETRATOR, Relationship.EX_PARTNER)
        save_details(user, case, case_relations(user, case), CONSENTED, "check")
        _assessment(case, score)
        submit_referral(user, case, case_relations(user, case))
    db.session.commit()
    return case


def signed_off(world: World) -> Case:
    """A referral signed off, waiting for the coordinator."""
    case = submitted(world)
    with acting_offline([world.supervisor.user]):
        sign_off(world.supervisor.user, case)
    db.session.commit()
    return case


def page(response: object) -> str:
    return response.get_data(as_text=True)  # type: ignore[attr-defined, no-any-return]


# --- sign-off ------------------------------------------------------------------------------------------------------


def test_supervisor_signs_off_and_the_referral_reaches_the_coordinators_queue(
    app: Flask, client: FlaskClient, clock: FakeClock, world: World
) -> None:
    case = submitted(world)
    login_as(client, world.supervisor, clock)
    listing = client.get("/sign-off")
    assert listing.status_code == 200
    assert case.reference in page(listing)
    summary = client.get(f"/sign-off/{case.public_id}")
    assert summary.status_code == 200
    assert "Maya Okafor" in page(summary)
    assert "Score 16, grade high" in page(summary)
    assert "Visible high risk" in page(summary)
    assert "knows and consents" in page(summary)

    response = post_form(client, f"/sign-off/{case.public_id}", {"decision": "sign_off"})
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.AWAITING_DECISION.value  # type: ignore[union-attr]

    client = app.test_client()  # a new browser for the next user
    login_as(client, world.coordinator, clock)
    queue = client.get("/queue")
    assert queue.status_code == 200
    assert case.reference in page(queue)
    assert "High risk" in page(queue)
    assert f"/queue/{case.public_id}" in page(queue)


def test_supervisor_returns_with_comments_and_not_without(client: FlaskClient, clock: FakeClock, world: World) -> None:
    case = submitted(world)
    login_as(client, world.supervisor, clock)
    bare = post_form(client, f"/sign-off/{case.public_id}", {"decision": "return", "comments": ""})
    assert bare.status_code == 400
    assert "Say what the referrer needs to change" in page(bare)
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.AWAITING_SIGN_OFF.value  # type: ignore[union-attr]

    response = post_form(client, f"/sign-off/{case.public_id}", {"decision": "return", "comments": COMMENTS})
    assert response.status_code == 302
    db.session.expire_all()
    referral = db.session.scalar(select(Referral).where(Referral.case_id == case.id))
    assert referral is not None
    assert referral.return_comments == COMMENTS
    assert referral.case.status == CaseStatus.RETURNED.value


def test_coordinator_sees_referrals_still_waiting_for_sign_off(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    case = submitted(world)
    login_as(client, world.coordinator, clock)
    queue = page(client.get("/queue"))
    assert "There are no referrals waiting for a decision" in queue
    assert case.reference in queue
    assert f"/queue/{case.public_id}" not in queue


def test_supervisor_cannot_sign_off_their_own_referral_or_another_agencys(
    app: Flask, client: FlaskClient, clock: FakeClock, world: World
) -> None:
    case = submitted(world)
    referring_supervisor = make_user(Role.SUPERVISOR, Role.REFERRER, agency=world.supervisor.user.agency)
    with acting_offline([referring_supervisor.user]):
        case.referred_by_id = referring_supervisor.user.id
    db.session.commit()
    login_as(client, referring_supervisor, clock)
    own = client.get(f"/sign-off/{case.public_id}")
    assert own.status_code == 403
    assert "another supervisor at the referring agency must" in page(own)
    assert post_form(client, f"/sign-off/{case.public_id}", {"decision": "sign_off"}, "/sign-off").status_code == 403

    client = app.test_client()  # a new browser for the next user
    login_as(client, make_user(Role.SUPERVISOR), clock)
    assert client.get(f"/sign-off/{case.public_id}").status_code == 404


def test_only_supervisors_reach_sign_off_and_only_coordinators_the_queue(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    login_as(client, world.referrer, clock)
    assert client.get("/sign-off").status_code == 403
    assert client.get("/queue").status_code == 403


# --- decisions -----------------------------------------------------------------------------------------------------


def test_coordinator_accepts_with_an_idva_who_then_sees_the_case(
    app: Flask, client: FlaskClient, clock: FakeClock, world: World
) -> None:
    case = signed_off(world)
    login_as(client, world.coordinator, clock)
    form = client.get(f"/queue/{case.public_id}")
    assert form.status_code == 200
    assert escape(f"{world.idva.user.display_name} — 0 open cases") in page(form)

    response = post_form(
        client, f"/queue/{case.public_id}", {"decision": "accepted", "idva": world.idva.user.public_id}
    )
    assert response.status_code == 302
    db.session.expire_all()
    decided = db.session.get(Case, case.id)
    assert decided is not None
    assert decided.status == CaseStatus.OPEN.value
    assert decided.assigned_idva_id == world.idva.user.id

    client = app.test_client()  # a new browser for the next user
    login_as(client, world.idva, clock)
    assert client.get(f"/cases/{case.public_id}").status_code == 200


def test_below_threshold_without_signposting_is_refused(client: FlaskClient, clock: FakeClock, world: World) -> None:
    case = signed_off(world)
    login_as(client, world.coordinator, clock)
    data = {"decision": "below_threshold", "reason": "Score 8 and no other criterion is met", "signposting": ""}
    response = post_form(client, f"/queue/{case.public_id}", data)
    assert response.status_code == 400
    assert "signposted" in page(response)
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.AWAITING_DECISION.value  # type: ignore[union-attr]


def test_bad_decision_input_is_a_400_not_a_500(client: FlaskClient, clock: FakeClock, world: World) -> None:
    case = signed_off(world)
    login_as(client, world.coordinator, clock)
    path = f"/queue/{case.public_id}"
    assert post_form(client, path, {"decision": "bogus"}).status_code == 400
    assert post_form(client, path, {"decision": "accepted", "idva": "not-an-idva"}).status_code == 400
    assert post_form(client, path, {"decision": "duplicate", "duplicate_of": "nope"}).status_code == 400


def test_coordinator_marks_a_duplicate_of_a_live_case(client: FlaskClient, clock: FakeClock, world: World) -> None:
    case = signed_off(world)
    earlier = make_case(area=world.area, agency=world.referrer.user.agency, victim=case.victim)
    login_as(client, world.coordinator, clock)
    form = page(client.get(f"/queue/{case.public_id}"))
    assert earlier.reference in form
    response = post_form(
        client, f"/queue/{case.public_id}", {"decision": "duplicate", "duplicate_of": earlier.public_id}
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == CaseStatus.DUPLICATE.value  # type: ignore[union-attr]


def test_another_areas_coordinator_gets_404_on_the_decision_page(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    case = signed_off(world)
    login_as(client, world.elsewhere, clock)
    assert client.get(f"/queue/{case.public_id}").status_code == 404
    assert case.reference not in page(client.get("/queue"))


# --- safety plans, triggers and overdue ----------------------------------------------------------------------------


@pytest.fixture
def open_case(world: World) -> Case:
    police = world.referrer.user.agency
    return make_case(area=world.area, agency=police, actor=world.referrer.user, idva=world.idva.user)


def test_safety_plan_made_on_the_page_is_listed_and_becomes_overdue(
    client: FlaskClient, clock: FakeClock, world: World, open_case: Case
) -> None:
    login_as(client, world.idva, clock)
    path = f"/cases/{open_case.public_id}/safety-plans/new"
    assert client.get(path).status_code == 200
    review_on = db.london_today() + timedelta(days=7)
    data = {
        "measures": ["sanctuary_scheme", "other"],
        "other": "Neighbour watch",
        "detail": "Sanctuary fitted at the back door",
        "owner": world.idva.user.public_id,
        "review_on": [str(review_on.day), str(review_on.month), str(review_on.year)],
    }
    assert post_form(client, path, data).status_code == 302
    plans_page = page(client.get(f"/cases/{open_case.public_id}/plans"))
    assert "Sanctuary scheme" in plans_page
    assert "Other: Neighbour watch" in plans_page
    assert "Safety plan made" in plans_page
    assert "Nothing of yours is overdue" in page(client.get("/overdue"))

    clock.advance(days=9)
    login_as(client, world.idva, clock)
    overdue = page(client.get("/overdue"))
    assert open_case.reference in overdue
    assert "Safety plan review" in overdue
    assert "Overdue" in page(client.get(f"/cases/{open_case.public_id}/plans"))


def test_bad_safety_plan_input_is_a_400(client: FlaskClient, clock: FakeClock, world: World, open_case: Case) -> None:
    login_as(client, world.idva, clock)
    path = f"/cases/{open_case.public_id}/safety-plans/new"
    past = db.london_today() - timedelta(days=1)
    cases = [
        {"measures": [], "owner": world.idva.user.public_id, "review_on": ["1", "1", "2027"]},
        {"measures": ["nonsense"], "owner": world.idva.user.public_id, "review_on": ["1", "1", "2027"]},
        {"measures": ["other"], "owner": world.idva.user.public_id, "review_on": ["1", "1", "2027"]},
        {"measures": ["safe_phone"], "owner": "x", "review_on": ["1", "1", "2027"]},
        {"measures": ["safe_phone"], "owner": world.idva.user.public_id, "review_on": ["31", "2", "2027"]},
        {"measures": ["safe_phone"], "owner": world.idva.user.public_id, "review_on": ["1", "2"]},
        {
            "measures": ["safe_phone"],
            "owner": world.idva.user.public_id,
            "review_on": [str(past.day), str(past.month), str(past.year)],
        },
    ]
    for data in cases:
        response = post_form(client, path, data)
        assert response.status_code == 400, data
        assert "There is a problem" in page(response)


def test_review_and_end_a_plan_through_the_pages(
    client: FlaskClient, clock: FakeClock, world: World, open_case: Case
) -> None:
    with acting_offline([world.idva.user]):
        plan = make_safety_plan(open_case, world.idva.user)
    login_as(client, world.idva, clock)
    base = f"/cases/{open_case.public_id}/safety-plans/{plan.public_id}"
    assert client.get(f"{base}/review").status_code == 200
    next_on = db.london_today() + timedelta(days=30)
    data = {"measures": ["safe_phone"], "next_review_on": [str(next_on.day), str(next_on.month), str(next_on.year)]}
    assert post_form(client, f"{base}/review", data).status_code == 302
    plans_path = f"/cases/{open_case.public_id}/plans"
    assert "Safety plan reviewed" in page(client.get(plans_path))

    assert post_form(client, f"{base}/end", {"reason": ""}, plans_path).status_code == 400
    assert post_form(client, f"{base}/end", {"reason": "Victim moved out of area"}, plans_path).status_code == 302
    ended = page(client.get(plans_path))
    assert "Safety plan ended" in ended
    assert "Victim moved out of area" in ended


def test_release_from_custody_makes_a_review_due_then_overdue(
    client: FlaskClient, clock: FakeClock, world: World, open_case: Case
) -> None:
    login_as(client, world.referrer, clock)
    path = f"/cases/{open_case.public_id}/triggers/new"
    assert client.get(path).status_code == 200
    today = db.london_today()
    data = {
        "kind": "released_from_custody",
        "occurred_on": [str(today.day), str(today.month), str(today.year)],
        "note": "Released this morning",
        "review_owner": "",
    }
    assert post_form(client, path, data).status_code == 302
    event = db.session.scalar(select(CaseEvent).where(CaseEvent.case_id == open_case.id))
    assert event is not None
    assert event.review_owner_id == world.idva.user.id
    plans_path = f"/cases/{open_case.public_id}/plans"
    listed = page(client.get(plans_path))
    assert "Perpetrator released from custody or prison" in listed
    assert ">Due<" in listed

    clock.advance(days=3)
    login_as(client, world.idva, clock)
    assert "Overdue" in page(client.get(plans_path))
    overdue = page(client.get("/overdue"))
    assert open_case.reference in overdue
    assert "Risk review: Perpetrator released" in overdue

    complete = f"/cases/{open_case.public_id}/triggers/{event.public_id}/complete"
    assert post_form(client, complete, {"note": ""}, plans_path).status_code == 400
    assert post_form(client, complete, {"note": "Plan still fits; alarm tested"}, plans_path).status_code == 302
    assert "Nothing of yours is overdue" in page(client.get("/overdue"))


def test_bad_trigger_input_is_a_400(client: FlaskClient, clock: FakeClock, world: World, open_case: Case) -> None:
    login_as(client, world.referrer, clock)
    path = f"/cases/{open_case.public_id}/triggers/new"
    far = date(2030, 1, 1)
    for data in (
        {"kind": "nonsense", "occurred_on": ["1", "1", "2026"]},
        {"kind": "new_incident", "occurred_on": ["", "", ""]},
        {"kind": "new_incident", "occurred_on": [str(far.day), str(far.month), str(far.year)]},
        {"kind": "new_incident", "occurred_on": ["1", "1", "2026"], "review_owner": "someone"},
    ):
        assert post_form(client, path, data).status_code == 400, data


def test_coordinator_sees_area_overdue_and_outsiders_get_404(
    app: Flask, client: FlaskClient, clock: FakeClock, world: World, open_case: Case
) -> None:
    with acting_offline([world.idva.user]):
        make_safety_plan(open_case, world.idva.user, review_on=db.london_today() + timedelta(days=1))
    clock.advance(days=3)
    login_as(client, world.coordinator, clock)
    overdue = page(client.get("/overdue"))
    assert "Overdue in your areas" in overdue
    assert open_case.reference in overdue

    client = app.test_client()  # a new browser for the next user
    login_as(client, world.elsewhere, clock)
    assert "Overdue in your areas" in page(client.get("/overdue"))
    assert open_case.reference not in page(client.get("/overdue"))
    assert client.get(f"/cases/{open_case.public_id}/plans").status_code == 404
    assert client.get(f"/cases/{open_case.public_id}/safety-plans/new").status_code == 404
    assert client.get(f"/cases/{open_case.public_id}/triggers/new").status_code == 404


def test_chair_reads_plans_but_cannot_change_them(
    client: FlaskClient, clock: FakeClock, world: World, open_case: Case
) -> None:
    chair = make_user(Role.CHAIR, agency=world.coordinator.user.agency)
    login_as(client, chair, clock)
    assert client.get(f"/cases/{open_case.public_id}/plans").status_code == 200
    assert client.get(f"/cases/{open_case.public_id}/safety-plans/new").status_code == 403


# --- the route matrix rows for these pages (to be copied into tests/data/route_matrix.csv) -------------------------

MATRIX_ROWS = """\
casework.sign_off_list,/sign-off,GET,403,403,403,403,200,403,403,403,403,403,302
casework.sign_off,/sign-off/<pid:public_id>,GET,403,403,403,403,404,403,403,403,403,403,302
casework.queue,/queue,GET,200,403,403,403,403,403,403,403,403,403,302
casework.decide,/queue/<pid:public_id>,GET,404,403,403,403,403,403,403,403,403,403,302
casework.overdue,/overdue,GET,200,200,200,200,200,200,403,403,200,403,302
casework.plans_page,/cases/<pid:public_id>/plans,GET,404,404,404,404,404,404,403,403,404,403,302
casework.new_plan,/cases/<pid:public_id>/safety-plans/new,GET,404,403,404,404,404,404,403,403,403,403,302
casework.review_plan,/cases/<pid:public_id>/safety-plans/<pid:plan_id>/review,GET,404,403,404,404,404,404,403,403,403,403,302
casework.new_trigger,/cases/<pid:public_id>/triggers/new,GET,404,403,404,404,404,404,403,403,403,403,302
"""
COLUMNS = [r.value for r in Role] + ["anonymous"]


@pytest.mark.parametrize("column", COLUMNS)
def test_each_role_reaches_the_casework_pages_as_the_matrix_rows_say(
    app: Flask, client: FlaskClient, clock: FakeClock, column: str
) -> None:
    from marac.audit.models import AuditEvent

    area = make_area()
    sample = make_user(Role.REFERRER, areas=[area])
    case = make_case(area=area, agency=sample.user.agency, actor=sample.user)
    with acting_offline([sample.user]):
        plan = make_safety_plan(case, sample.user)
    rows = [line.split(",") for line in MATRIX_ROWS.splitlines()]
    assert {r[0] for r in rows} == {
        rule.endpoint
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("casework.") and "GET" in (rule.methods or set())
    }
    user_id = None
    if column != "anonymous":
        account = make_user(Role(column))
        login_as(client, account, clock)
        user_id = account.user.id
    for endpoint, path, _, *statuses in rows:
        url = path.replace("<pid:public_id>", case.public_id).replace("<pid:plan_id>", plan.public_id)
        response = client.get(url)
        expected = int(dict(zip(COLUMNS, statuses, strict=True))[column])
        assert response.status_code == expected, (endpoint, column)
        if expected == 403:
            denied = select(AuditEvent).where(
                AuditEvent.action == "route.denied",
                AuditEvent.object_id == endpoint,
                AuditEvent.actor_user_id == user_id,
            )
            assert db.session.scalars(denied).first() is not None, endpoint


# --- regressions from the security review --------------------------------------------------------------------------


def test_a_supervisor_refused_sign_off_sees_nothing_of_the_referral(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    case = submitted(world)
    health = make_agency(AgencyKind.HEALTH, [world.area])
    make_disclosure(case, health, world.referrer.user, parts=["summary"])
    login_as(client, make_user(Role.SUPERVISOR, agency=health), clock)

    response = client.get(f"/sign-off/{case.public_id}")

    assert response.status_code == 403
    assert str(case.victim.family_name) not in page(response)
    assert "another supervisor at the referring agency must" in page(response)


def test_a_coordinator_refused_a_decision_sees_nothing_of_the_referral(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    case = signed_off(world)
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, [make_area()])
    make_disclosure(case, council, world.referrer.user, parts=["summary"])
    login_as(client, make_user(Role.COORDINATOR, agency=council), clock)

    response = client.get(f"/queue/{case.public_id}")

    assert response.status_code == 403
    assert str(case.victim.family_name) not in page(response)


def test_duplicates_offered_and_accepted_are_only_cases_the_coordinator_may_see(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    case = signed_off(world)
    elsewhere = make_area()
    hidden = make_case(area=elsewhere, agency=make_agency(AgencyKind.POLICE, [elsewhere]), victim=case.victim)
    login_as(client, world.coordinator, clock)

    assert hidden.reference not in page(client.get(f"/queue/{case.public_id}"))
    response = post_form(
        client, f"/queue/{case.public_id}", {"decision": "duplicate", "duplicate_of": hidden.public_id}
    )

    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.get(Case, case.id).status == "awaiting_decision"


def test_queues_leave_out_cases_the_user_is_barred_from(client: FlaskClient, clock: FakeClock, world: World) -> None:
    waiting_decision, waiting_sign_off = signed_off(world), submitted(world)
    for case, user in ((waiting_decision, world.coordinator.user), (waiting_sign_off, world.supervisor.user)):
        db.session.add(MustNotReceive(case_id=case.id, user_id=user.id))
    db.session.commit()

    login_as(client, world.coordinator, clock)
    assert waiting_decision.reference not in page(client.get("/queue"))
    supervisor = client.application.test_client()
    login_as(supervisor, world.supervisor, clock)
    assert waiting_sign_off.reference not in page(supervisor.get("/sign-off"))


def test_a_summary_only_disclosure_shows_neither_plans_nor_incidents(
    app: Flask,
    client: FlaskClient,
    clock: FakeClock,
    world: World,
    open_case: Case,
) -> None:
    from marac.cases.services import record_incident

    make_safety_plan(open_case, world.referrer.user)
    when = clock.current.date() - timedelta(days=2)
    record_incident(
        None,
        victim=open_case.victim,
        agency=world.referrer.user.agency,
        case=open_case,
        occurred_on=when,
        summary="Door",
    )
    db.session.commit()
    health = make_agency(AgencyKind.HEALTH, [world.area])
    make_disclosure(open_case, health, world.referrer.user, parts=["summary"])
    login_as(client, make_user(Role.REFERRER, agency=health), clock)

    assert client.get(f"/cases/{open_case.public_id}/plans").status_code == 404
    case_page = page(client.get(f"/cases/{open_case.public_id}"))
    assert "Incidents were not included in what was shared with your agency" in case_page


def test_a_failed_incident_keeps_neither_the_incident_nor_its_review(
    app: Flask,
    client: FlaskClient,
    clock: FakeClock,
    world: World,
    open_case: Case,
) -> None:
    app.config["MARAC_TRIGGER_REVIEW_DAYS"] = "[1]"  # makes recording the review fail
    login_as(client, world.referrer, clock)
    when = clock.current.date() - timedelta(days=3)
    path = f"/cases/{open_case.public_id}/incidents/new"
    fields = {"occurred_on": [str(when.day), str(when.month), str(when.year)], "incident_type": "domestic_abuse"}

    response = post_form(client, path, {**fields, "children_present": "no", "perpetrator": ""})

    assert response.status_code == 400
    db.session.expire_all()
    assert db.session.scalar(select(func.count(Incident.id))) == 0
