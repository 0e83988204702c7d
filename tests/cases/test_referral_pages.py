"""The referral journey through its pages: start, people, risk assessment, details, check your answers, submit."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from werkzeug.test import TestResponse

from marac import db
from marac.access import Role
from marac.cases.models import Case, CaseStatus, Referral, RiskAssessment
from marac.cases.questionnaires import active_questionnaire, questions_of
from marac.cases.referrals import return_referral
from marac.orgs.models import AgencyKind, Area
from marac.people.models import Person
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_agency, make_area, make_case, make_person, make_user, post_form

#: The selects a browser always sends (empty when nothing is chosen).
SELECTS = {"gender": "", "ethnicity": "", "disability": "", "sexual_orientation": ""}
REASON = "The victim fears for her life after threats made at the school gate last week."


@dataclass
class World:
    """An area with a police referrer and supervisor, and a referrer at another agency."""

    area: Area
    referrer: Account
    supervisor: Account
    outsider: Account


@pytest.fixture
def world(app: Flask) -> World:
    area = make_area()
    police = make_agency(AgencyKind.POLICE, [area])
    return World(
        area=area,
        referrer=make_user(Role.REFERRER, agency=police),
        supervisor=make_user(Role.SUPERVISOR, agency=police),
        outsider=make_user(Role.REFERRER, agency=make_agency(AgencyKind.HEALTH, [area])),
    )


def page(response: TestResponse) -> str:
    """The page text with entities decoded (apostrophes, ampersands)."""
    return html.unescape(response.get_data(as_text=True))


def victim_form(area: Area, **overrides: object) -> dict[str, object]:
    values: dict[str, object] = {
        "area": area.public_id,
        "given_name": "Alexandra",
        "family_name": "Testington",
        "date_of_birth": ["27", "3", "1985"],
        "phones": "07700 900 982",
        "postcode": "AA1 1AA",
        **SELECTS,
    }
    values.update(overrides)
    return values


def start(client: FlaskClient, world: World, **overrides: object) -> Case:
    """Start a referral through the page; the draft case it made."""
    response = post_form(client, "/referrals/new", victim_form(world.area, **overrides))
    assert response.status_code == 302, page(response).split("There is a problem")[-1][:1500]
    public_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    case = db.session.scalar(select(Case).where(Case.public_id == public_id))
    assert case is not None
    assert response.headers["Location"] == f"/referrals/{public_id}"
    return case


def add_perpetrator(client: FlaskClient, case: Case) -> None:
    """Add the perpetrator with the existing "add a person" page."""
    response = post_form(
        client,
        f"/cases/{case.public_id}/people/new",
        {
            "role": "perpetrator",
            "relationship": "ex_partner",
            "given_name": "Robert",
            "family_name": "Abuserton",
            **SELECTS,
        },
    )
    assert response.status_code == 302, page(response).split("There is a problem")[-1][:1500]


def question_keys() -> list[str]:
    questionnaire = active_questionnaire("dash-ric")
    assert questionnaire is not None
    return [q["key"] for q in questions_of(questionnaire.definition)]


def answers(yes: int) -> dict[str, str]:
    """Every question answered: the first `yes` with yes, the rest no."""
    return {f"q_{key}": "yes" if n < yes else "no" for n, key in enumerate(question_keys())}


def complete(client: FlaskClient, case: Case, yes: int = 14, **extra: str) -> TestResponse:
    path = f"/referrals/{case.public_id}/assessment"
    return post_form(client, path, {**answers(yes), "fears_text": "That he will find her", "complete": "y", **extra})


def save_details(client: FlaskClient, case: Case, **overrides: str) -> TestResponse:
    data = {
        "consent": "given",
        "is_safe_to_call": "yes",
        "safe_contact": "Mobile after 6pm",
        "unsafe_contacts": "Her ex-partner's brother",
        "previous_marac": "",
        "judgement_reasons": "",
        **overrides,
    }
    return post_form(client, f"/referrals/{case.public_id}/details", data)


def latest(case: Case) -> RiskAssessment | None:
    db.session.expire_all()
    return db.session.scalar(select(RiskAssessment).where(RiskAssessment.case_id == case.id))


def test_police_referrer_walks_the_whole_journey(client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.referrer, clock)
    listing = client.get("/referrals/")
    assert listing.status_code == 200
    assert "Start a referral" in page(listing)
    assert client.get("/referrals/new").status_code == 200

    case = start(client, world)
    tasks = page(client.get(f"/referrals/{case.public_id}"))
    assert "Referral " + case.reference in tasks
    assert "Victim: Alexandra Testington" in tasks
    assert "Not started" in tasks
    assert f"/cases/{case.public_id}/people/new" in tasks

    add_perpetrator(client, case)
    assert "Perpetrator: Robert Abuserton" in page(client.get(f"/referrals/{case.public_id}"))

    path = f"/referrals/{case.public_id}/assessment"
    saved = post_form(client, path, {"q_injury": "yes", "q_strangulation": "yes", "save": "y"})
    assert saved.status_code == 302
    assert saved.headers["Location"] == path
    again = page(client.get(path))
    assert "Your answers have been saved" in again
    assert "Non-fatal strangulation, choking or suffocation is reported" in again
    assert 'name="q_injury" type="radio" value="yes" checked' in again
    assert 'name="q_isolation" type="radio" value="yes" checked' not in again
    assert "In progress" in page(client.get(f"/referrals/{case.public_id}"))
    assessment = latest(case)
    assert assessment is not None
    assert assessment.status == "draft"

    done = complete(client, case, yes=14)
    assert done.status_code == 302, page(done)[:3000]
    assert "Score 14, grade High" in page(client.get(f"/referrals/{case.public_id}"))

    assert save_details(client, case).status_code == 302
    check = page(client.get(f"/referrals/{case.public_id}/check"))
    assert "Visible high risk" in check
    assert "The risk assessment scores 14" in check
    assert "Mobile after 6pm" in check
    assert "Robert Abuserton" in check

    submitted = post_form(client, f"/referrals/{case.public_id}/check", {})
    assert submitted.status_code == 302
    assert submitted.headers["Location"] == "/referrals/"
    assert "submitted. Your supervisor will check it" in page(client.get("/referrals/"))
    db.session.expire_all()
    assert case.status == CaseStatus.AWAITING_SIGN_OFF.value
    referral = db.session.scalar(select(Referral).where(Referral.case_id == case.id))
    assert referral is not None
    assert referral.criteria == "visible_high_risk"

    after = client.get(f"/referrals/{case.public_id}/details")
    assert after.status_code == 302
    assert after.headers["Location"] == f"/cases/{case.public_id}"


def _counts() -> tuple[int, int]:
    return (db.session.scalar(select(func.count(Case.id))) or 0, db.session.scalar(select(func.count(Person.id))) or 0)


@pytest.mark.parametrize(
    ("born", "message"),
    [
        (date(2016, 1, 5), "MARAC is for victims aged 16 and over"),
        (date(2027, 1, 5), "Date of birth must be in the past"),
    ],
)
def test_under_16_or_unborn_victim_is_refused_and_nothing_saved(
    client: FlaskClient, clock: FakeClock, world: World, born: date, message: str
) -> None:
    login_as(client, world.referrer, clock)
    before = _counts()
    dob = [str(born.day), str(born.month), str(born.year)]
    response = post_form(client, "/referrals/new", victim_form(world.area, date_of_birth=dob))
    assert response.status_code == 400
    assert message in page(response)
    assert "There is a problem" in page(response)
    assert _counts() == before


def test_area_must_be_one_of_the_users(client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.referrer, clock)
    response = post_form(client, "/referrals/new", victim_form(make_area()))
    assert response.status_code == 400
    assert "Select an area you work in" in page(response)


def test_missing_consent_reason_is_shown_on_check_page(client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    add_perpetrator(client, case)
    assert complete(client, case).status_code == 302
    assert save_details(client, case, consent="refused").status_code == 302
    assert "Explain why you are referring without consent" in page(client.get(f"/referrals/{case.public_id}/check"))
    response = post_form(client, f"/referrals/{case.public_id}/check", {})
    assert response.status_code == 400
    assert "There is a problem" in page(response)
    assert 'href="#details"' in page(response)
    db.session.expire_all()
    assert case.status == CaseStatus.DRAFT.value


def test_submitting_with_nothing_done_lists_every_problem(client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    response = post_form(client, f"/referrals/{case.public_id}/check", {})
    text = page(response)
    assert response.status_code == 400
    assert "Complete the risk assessment" in text
    assert "Add the perpetrator" in text
    assert "consents" in text
    assert "No MARAC criterion is met yet" in text


def test_professional_judgement_needs_reasons(client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    refused = complete(client, case, yes=3, raise_to_high="y", judgement_reasons="")
    assert refused.status_code == 400
    assert "Give the reasons for professional judgement" in page(refused)
    assessment = latest(case)
    assert assessment is None or assessment.status == "draft"

    raised = complete(client, case, yes=3, raise_to_high="y", judgement_reasons=REASON)
    assert raised.status_code == 302
    assessment = latest(case)
    assert assessment is not None
    assert assessment.grade == "high"
    assert assessment.score == 3
    add_perpetrator(client, case)
    assert save_details(client, case).status_code == 302
    assert "Professional judgement" in page(client.get(f"/referrals/{case.public_id}/check"))


def test_short_judgement_reasons_in_details_stop_submission(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    add_perpetrator(client, case)
    assert complete(client, case).status_code == 302
    assert save_details(client, case, judgement_reasons="Worried").status_code == 302
    response = post_form(client, f"/referrals/{case.public_id}/check", {})
    assert response.status_code == 400
    assert "Give your professional judgement reasons in full" in page(response)


def test_completing_with_questions_unanswered_links_each_and_keeps_answers(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    path = f"/referrals/{case.public_id}/assessment"
    response = post_form(client, path, {"q_injury": "yes", "q_frightened": "not_known", "complete": "y"})
    text = page(response)
    assert response.status_code == 400
    assert 'href="#q_isolation"' in text
    assert "Select an answer: Does the victim feel cut off" in text
    assert 'href="#q_injury"' not in text
    assert 'name="q_frightened" type="radio" value="not_known" checked' in text
    assessment = latest(case)
    assert assessment is not None
    assert assessment.status == "draft"
    assert assessment.score is None


def test_another_agency_gets_404_on_every_page(app: Flask, client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    fresh = app.test_client()
    login_as(fresh, world.outsider, clock)
    for suffix in ("", "/assessment", "/details", "/check"):
        assert fresh.get(f"/referrals/{case.public_id}{suffix}").status_code == 404, suffix
    for suffix in ("/assessment", "/details", "/check"):
        response = post_form(fresh, f"/referrals/{case.public_id}{suffix}", {"save": "y"}, form_path="/referrals/new")
        assert response.status_code == 404, suffix
    assert case.public_id not in page(fresh.get("/referrals/"))


def test_returned_referral_is_listed_with_the_supervisors_comments(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    add_perpetrator(client, case)
    assert complete(client, case).status_code == 302
    assert save_details(client, case).status_code == 302
    assert post_form(client, f"/referrals/{case.public_id}/check", {}).status_code == 302
    assert case.public_id not in page(client.get("/referrals/"))
    supervisor = world.supervisor.user
    supervisor.auth_token = "test"
    db.session.expire_all()
    return_referral(supervisor, db.session.get_one(Case, case.id), "Add the children and their school, please.")
    db.session.commit()
    listing = page(client.get("/referrals/"))
    assert "Returned" in listing
    assert "Add the children and their school, please." in listing
    assert "Add the children and their school" in page(client.get(f"/referrals/{case.public_id}"))


def test_victim_with_a_live_case_is_flagged_on_the_task_list(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    known = make_person(given_name="Alexandra", family_name="Testington", date_of_birth=date(1985, 3, 27))
    make_case(area=world.area, victim=known)
    login_as(client, world.referrer, clock)
    case = start(client, world, phones=known.phones[0] if known.phones else "07700 900 982")
    tasks = page(client.get(f"/referrals/{case.public_id}"))
    assert "This victim may already have a live case" in tasks
    assert f"/people/{case.victim.public_id}/matches?case={case.public_id}" in tasks


def test_new_victim_is_not_flagged(client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    assert "may already have a live case" not in page(client.get(f"/referrals/{case.public_id}"))


@pytest.mark.parametrize(
    ("suffix", "data"),
    [
        ("/assessment", {"q_injury": "perhaps", "save": "y"}),
        ("/details", {"consent": "maybe"}),
        ("/details", {"is_safe_to_call": "sometimes"}),
        ("/details", {"safe_contact": "x" * 5000}),
    ],
)
def test_bad_input_is_answered_with_400(
    client: FlaskClient, clock: FakeClock, world: World, suffix: str, data: dict[str, str]
) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    response = post_form(client, f"/referrals/{case.public_id}{suffix}", data)
    assert response.status_code == 400


def test_bad_addresses_and_missing_token(client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.referrer, clock)
    case = start(client, world)
    assert client.get("/referrals/not-an-id").status_code == 404
    assert client.get("/referrals/00000000-0000-4000-8000-000000000000/check").status_code == 404
    assert client.post(f"/referrals/{case.public_id}/check", data={}).status_code == 400
    assert client.post(f"/referrals/{case.public_id}/details", data={"consent": "given"}).status_code == 400
    assert client.post("/referrals/new", data=victim_form(world.area)).status_code == 400
    tampered = post_form(client, "/referrals/new", victim_form(world.area, date_of_birth=["1985"]))
    assert tampered.status_code == 400


def test_pages_need_case_write(client: FlaskClient, clock: FakeClock, world: World) -> None:
    chair = make_user(Role.CHAIR, agency=world.referrer.user.agency)
    login_as(client, chair, clock)
    assert client.get("/referrals/").status_code == 403
    assert client.get("/referrals/new").status_code == 403
