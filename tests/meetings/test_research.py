"""Agency research: requests made on publication, the representative's list and answers, the coordinator's grid and
reminders, and who may see what."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select, text

from marac import db
from marac.access import Role, acting_offline
from marac.audit.models import AuditEvent
from marac.cases.models import Case, PartyRole, Referral
from marac.cases.services import add_party
from marac.meetings import services
from marac.meetings.models import Meeting, ResearchRequest
from marac.meetings.services.schedule import new_meeting_reference, research_due, to_local
from marac.notify.models import OutboxMessage
from marac.notify.services import BODY
from marac.orgs.models import Agency, AgencyKind
from marac.people.models import PersonKind, Relationship
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_agency, make_area, make_case, make_person, make_user, post_form

MEETING_AT = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)  # a Wednesday; research due Monday 30 November, 10:00
FACTS = "Attended the address on 3 November 2026 after a neighbour's call; bail conditions in place"
OVERDUE_TAG = 'govuk-tag--red">Overdue'
OPINION = "Officer's view: the risk is escalating since his release"


@dataclass
class World:
    """An area with three member agencies (only police and housing have representatives), a coordinator, a chair,
    an outside representative, and a published meeting hearing two cases."""

    coordinator: Account
    chair: Account
    police_rep: Account
    housing_rep: Account
    outsider_rep: Account
    police: Agency
    housing: Agency
    council: Agency
    meeting: Meeting
    cases: list[Case]


def _accepted_case(area: Any, agency: Agency) -> Case:
    perpetrator = make_person(PersonKind.PERPETRATOR, gender="Male")
    case = make_case(area=area, agency=agency, perpetrator=perpetrator)
    child = make_person(PersonKind.CHILD, given_name="Robin", date_of_birth=date(2017, 5, 4))
    add_party(None, case, child, PartyRole.CHILD, Relationship.CHILD)
    db.session.add(Referral(case_id=case.id, decision="accepted", decided_at=db.utcnow(), step="check"))
    db.session.commit()
    return case


def _meeting(area: Any) -> Meeting:
    meeting = Meeting(
        area_id=area.id,
        reference=new_meeting_reference(area, to_local(MEETING_AT).date()),
        starts_at=MEETING_AT,
        length_minutes=180,
        case_limit=15,
        research_due_at=research_due(MEETING_AT, 2),
        created_at=db.utcnow(),
    )
    db.session.add(meeting)
    db.session.commit()
    return meeting


@pytest.fixture
def world(app: Flask) -> World:
    area = make_area()
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area])
    police = make_agency(AgencyKind.POLICE, areas=[area])
    housing = make_agency(AgencyKind.HOUSING, areas=[area])
    coordinator = make_user(Role.COORDINATOR, agency=council, areas=[area])
    meeting = _meeting(area)
    cases = [_accepted_case(area, police), _accepted_case(area, housing)]
    with acting_offline([coordinator.user]):
        for case in cases:
            services.allocate(coordinator.user, meeting, case)
        services.publish_agenda(coordinator.user, meeting)
    db.session.commit()
    return World(
        coordinator=coordinator,
        chair=make_user(Role.CHAIR, agency=council, areas=[area]),
        police_rep=make_user(Role.AGENCY_REP, agency=police, areas=[area]),
        housing_rep=make_user(Role.AGENCY_REP, agency=housing),
        outsider_rep=make_user(Role.AGENCY_REP, agency=make_agency(AgencyKind.HOUSING)),
        police=police,
        housing=housing,
        council=council,
        meeting=meeting,
        cases=cases,
    )


def _requests(world: World, agency: Agency) -> list[ResearchRequest]:
    found = db.session.scalars(
        select(ResearchRequest).where(ResearchRequest.agency_id == agency.id).order_by(ResearchRequest.id)
    )
    return list(found)


def _answer(rep: Account, request: ResearchRequest, **values: Any) -> None:
    answer: dict[str, Any] = {"facts": None, "opinion": None, "withheld": None, "withheld_reason": None}
    answer.update(values)
    with acting_offline([rep.user]):
        services.answer_research(rep.user, request, nothing_held=answer.pop("nothing_held", False), **answer)
    db.session.commit()


def _post_answer(client: FlaskClient, request: ResearchRequest, data: dict[str, str]) -> Any:
    return post_form(client, f"/research/{request.public_id}", data)


def _grid(client: FlaskClient, world: World) -> str:
    response = client.get(f"/meetings/{world.meeting.public_id}/research-grid")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _agency_outstanding(page: str, agency: Agency) -> int:
    match = re.search(rf'id="agency-{agency.public_id}".*?data-outstanding="(\d+)"', page, re.S)
    assert match, f"no row for {agency.name}"
    return int(match.group(1))


def _case_outstanding(page: str) -> list[int]:
    footer = page.split('id="per-case"', 1)[1].split("</tr>", 1)[0]
    return [int(n) for n in re.findall(r'data-outstanding="(\d+)"', footer)]


def _reminders() -> list[OutboxMessage]:
    return list(db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "research_reminder")))


# --- requests and the representative's list ------------------------------------------------------------------------


def test_publishing_asks_each_member_agency_about_each_case(world: World) -> None:
    requests = list(db.session.scalars(select(ResearchRequest)))
    pairs = {(r.item.case_id, r.agency_id) for r in requests}
    agencies = {world.council.id, world.police.id, world.housing.id}
    assert pairs == {(c.id, a) for c in world.cases for a in agencies}
    assert len(requests) == 6
    assert {r.status for r in requests} == {"outstanding"}


def test_rep_list_shows_case_count_and_due_time(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.police_rep, clock)
    page = client.get("/research").get_data(as_text=True)
    assert "2 cases for the meeting on Wednesday 2 December 2026" in page
    assert "research due by 10:00 on Monday 30 November 2026" in page
    assert "2 outstanding" in page
    assert OVERDUE_TAG not in page


def test_rep_list_marks_overdue_research(world: World, client: FlaskClient, clock: FakeClock) -> None:
    clock.current = datetime(2026, 11, 30, 11, 0, tzinfo=UTC)
    login_as(client, world.police_rep, clock)
    assert OVERDUE_TAG in client.get("/research").get_data(as_text=True)
    for request in _requests(world, world.police):
        _answer(world.police_rep, request, nothing_held=True)
    page = client.get("/research").get_data(as_text=True)
    assert OVERDUE_TAG not in page
    assert "all answered" in page


def test_outside_rep_has_no_research_and_cannot_open_the_meeting(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.outsider_rep, clock)
    assert "no research to give" in client.get("/research").get_data(as_text=True)
    assert client.get(f"/meetings/{world.meeting.public_id}/research").status_code == 404


def test_rep_sees_each_case_with_the_people_to_search_for(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.police_rep, clock)
    response = client.get(f"/meetings/{world.meeting.public_id}/research")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for case in world.cases:
        assert case.reference in page
        assert escape(f"Victim: {case.victim.given_name} {case.victim.family_name}") in page
    assert "Child: Robin" in page
    assert "born 4 May 2017" in page
    assert page.count("Perpetrator: ") == 2
    assert page.count("Give research") == 2


# --- answering -----------------------------------------------------------------------------------------------------


def test_answer_keeps_facts_and_opinion_apart(world: World, client: FlaskClient, clock: FakeClock) -> None:
    request = _requests(world, world.police)[0]
    login_as(client, world.police_rep, clock)
    response = _post_answer(client, request, {"facts": FACTS, "opinion": OPINION})
    assert response.status_code == 302
    db.session.expire_all()
    assert (request.status, request.facts, request.opinion) == ("answered", FACTS, OPINION)
    assert request.withheld is None
    assert request.answered_by_id == world.police_rep.user.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "research.answer"))
    assert event is not None
    assert event.object_id == request.public_id
    assert "Attended" not in str(event.details)
    page = client.get(f"/meetings/{world.meeting.public_id}/research").get_data(as_text=True)
    assert "Change research" in page
    assert "Answered" in page


def test_answer_with_withheld_information_and_reason(world: World, client: FlaskClient, clock: FakeClock) -> None:
    request = _requests(world, world.police)[0]
    login_as(client, world.police_rep, clock)
    data = {"facts": FACTS, "withheld": "Intelligence report", "withheld_reason": "Live investigation"}
    assert _post_answer(client, request, data).status_code == 302
    db.session.expire_all()
    assert (request.withheld, request.withheld_reason) == ("Intelligence report", "Live investigation")


def test_nothing_held_is_recorded(world: World, client: FlaskClient, clock: FakeClock) -> None:
    request = _requests(world, world.housing)[0]
    login_as(client, world.housing_rep, clock)
    assert _post_answer(client, request, {"nothing_held": "y"}).status_code == 302
    db.session.expire_all()
    assert request.status == "nothing_held"
    assert request.facts is None
    assert request.opinion is None


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"facts": FACTS, "withheld": "Intelligence report"}, "Enter why the information held is not being shared"),
        ({"facts": FACTS, "withheld_reason": "Live investigation"}, "Describe the information held but not shared"),
        ({"facts": FACTS, "nothing_held": "y"}, "You said your agency holds nothing on this case"),
        ({"facts": "   "}, "Enter the facts your agency holds or your professional opinion"),
        ({"facts": "x" * 5001}, "Facts held must be 5000 characters or fewer"),
    ],
)
def test_bad_answer_is_refused_with_a_message_and_nothing_saved(
    world: World, client: FlaskClient, clock: FakeClock, data: dict[str, str], message: str
) -> None:
    request = _requests(world, world.police)[0]
    login_as(client, world.police_rep, clock)
    response = _post_answer(client, request, data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    db.session.expire_all()
    assert request.status == "outstanding"
    assert request.facts is None
    assert request.withheld is None
    assert request.answered_at is None


def test_another_agencys_request_is_404_and_audited(world: World, client: FlaskClient, clock: FakeClock) -> None:
    theirs = _requests(world, world.police)[0]
    own = _requests(world, world.housing)[0]
    login_as(client, world.housing_rep, clock)
    assert client.get(f"/research/{theirs.public_id}").status_code == 404
    response = post_form(
        client, f"/research/{theirs.public_id}", {"facts": FACTS}, form_path=f"/research/{own.public_id}"
    )
    assert response.status_code == 404
    denials = db.session.scalars(
        select(AuditEvent).where(AuditEvent.object_id == theirs.public_id, AuditEvent.outcome == "denied")
    ).all()
    assert len(denials) == 2
    db.session.expire_all()
    assert theirs.facts is None
    assert theirs.status == "outstanding"


def test_answer_refused_once_minutes_are_signed_or_case_deferred(world: World) -> None:
    first, second = _requests(world, world.police)
    world.meeting.signed_version = 1
    db.session.commit()
    with pytest.raises(services.ResearchError, match="minutes of this meeting are signed"):
        _answer(world.police_rep, first, facts=FACTS)
    world.meeting.signed_version = None
    second.item.status = "deferred"
    db.session.commit()
    with pytest.raises(services.ResearchError, match="deferred"):
        _answer(world.police_rep, second, facts=FACTS)


def test_answer_page_says_research_is_closed_once_minutes_are_signed(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    request = _requests(world, world.police)[0]
    login_as(client, world.police_rep, clock)
    path = f"/research/{request.public_id}"
    world.meeting.signed_version = 1
    db.session.commit()
    assert "can no longer change" in client.get(path).get_data(as_text=True)
    response = post_form(client, path, {"facts": FACTS}, form_path="/research")
    assert response.status_code == 400
    assert "can no longer change" in response.get_data(as_text=True)
    db.session.expire_all()
    assert request.facts is None


def test_answer_allowed_on_the_day_after_the_meeting_starts(world: World, clock: FakeClock) -> None:
    clock.current = MEETING_AT.replace(hour=11)
    request = _requests(world, world.police)[0]
    _answer(world.police_rep, request, facts=FACTS)
    assert request.status == "answered"


def test_research_is_sealed_at_rest(world: World) -> None:
    request = _requests(world, world.police)[0]
    _answer(world.police_rep, request, facts=FACTS, opinion=OPINION)
    raw = db.session.execute(
        text("SELECT facts, opinion FROM research_requests WHERE id = :id"), {"id": request.id}
    ).one()
    assert raw.facts
    assert raw.opinion
    assert b"neighbour" not in bytes(raw.facts)
    assert b"escalating" not in bytes(raw.opinion)


# --- the grid and reminders ----------------------------------------------------------------------------------------


def test_grid_shows_outstanding_per_agency_and_case_and_updates(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.coordinator, clock)
    page = _grid(client, world)
    assert all(_agency_outstanding(page, a) == 2 for a in (world.police, world.housing, world.council))
    assert _case_outstanding(page) == [3, 3]
    assert "6 requests outstanding" in page
    _answer(world.police_rep, _requests(world, world.police)[0], facts=FACTS)
    _answer(world.housing_rep, _requests(world, world.housing)[1], nothing_held=True)
    page = _grid(client, world)
    assert _agency_outstanding(page, world.police) == 1
    assert _agency_outstanding(page, world.housing) == 1
    assert _agency_outstanding(page, world.council) == 2
    assert _case_outstanding(page) == [2, 2]
    assert "4 requests outstanding" in page
    assert "Nothing held" in page
    assert "Answered" in page
    assert FACTS not in page


def test_chair_sees_the_grid_without_reminders(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.chair, clock)
    page = _grid(client, world)
    assert "6 requests outstanding" in page
    assert "Send reminders" not in page


@pytest.mark.parametrize("who", ["police_rep", "outsider_rep"])
def test_representatives_cannot_see_the_grid(world: World, client: FlaskClient, clock: FakeClock, who: str) -> None:
    login_as(client, getattr(world, who), clock)
    assert client.get(f"/meetings/{world.meeting.public_id}/research-grid").status_code == 404
    denial = db.session.scalar(
        select(AuditEvent).where(AuditEvent.outcome == "denied", AuditEvent.object_id == world.meeting.public_id)
    )
    assert denial is not None


def test_referrer_cannot_see_the_grid(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, make_user(Role.REFERRER, agency=world.police), clock)
    assert client.get(f"/meetings/{world.meeting.public_id}/research-grid").status_code == 403


def test_reminders_go_only_to_reps_of_agencies_with_outstanding_research(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    for request in _requests(world, world.police):
        _answer(world.police_rep, request, nothing_held=True)
    login_as(client, world.coordinator, clock)
    grid = f"/meetings/{world.meeting.public_id}/research-grid"
    response = post_form(client, f"{grid}/remind", {}, form_path=grid)
    assert response.status_code == 302
    messages = _reminders()
    assert [m.recipient_id for m in messages] == [world.housing_rep.user.id]
    message = messages[0]
    assert message.subject.startswith("OFFICIAL-SENSITIVE")
    assert message.body == BODY
    assert all(c.reference not in message.subject + message.body for c in world.cases)
    page = client.get(grid).get_data(as_text=True)
    assert "Reminded 2 agencies: 1 representative sent a reminder" in page
    assert escape(world.council.name) in page  # no representative to remind there
    assert all(r.reminded_at is not None for r in _requests(world, world.housing))
    assert all(r.reminded_at is None for r in _requests(world, world.police))


def test_reminder_to_chosen_agencies_and_once_a_minute(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.coordinator, clock)
    grid = f"/meetings/{world.meeting.public_id}/research-grid"
    chosen = {"agency": world.police.public_id}
    assert post_form(client, f"{grid}/remind", chosen, form_path=grid).status_code == 302
    assert post_form(client, f"{grid}/remind", chosen, form_path=grid).status_code == 302
    assert [m.recipient_id for m in _reminders()] == [world.police_rep.user.id]
    clock.advance(minutes=5)
    assert post_form(client, f"{grid}/remind", chosen, form_path=grid).status_code == 302
    assert len(_reminders()) == 2
    response = post_form(client, f"{grid}/remind", {"agency": "not-an-agency"}, form_path=grid)
    assert response.status_code == 400
    assert "Select agencies from the list" in response.get_data(as_text=True)


def test_reminders_refused_when_every_agency_has_answered(world: World, client: FlaskClient, clock: FakeClock) -> None:
    for agency, rep in ((world.police, world.police_rep), (world.housing, world.housing_rep)):
        for request in _requests(world, agency):
            _answer(rep, request, nothing_held=True)
    council_rep = make_user(Role.AGENCY_REP, agency=world.council)
    for request in _requests(world, world.council):
        _answer(council_rep, request, facts=FACTS)
    login_as(client, world.coordinator, clock)
    grid = f"/meetings/{world.meeting.public_id}/research-grid"
    response = post_form(client, f"{grid}/remind", {}, form_path=grid)
    assert response.status_code == 400
    assert "Every agency has answered" in response.get_data(as_text=True)
    assert _reminders() == []


def test_representative_cannot_send_reminders(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.police_rep, clock)
    path = f"/meetings/{world.meeting.public_id}/research-grid/remind"
    own = _requests(world, world.police)[0]
    assert post_form(client, path, {}, form_path=f"/research/{own.public_id}").status_code == 403
    assert _reminders() == []


# --- research at the meeting ---------------------------------------------------------------------------------------


def test_research_for_item_shows_coordinator_every_agency_and_rep_their_own(world: World) -> None:
    police_request = _requests(world, world.police)[0]
    _answer(world.police_rep, police_request, facts=FACTS, opinion=OPINION)
    item = police_request.item
    with acting_offline([world.coordinator.user, world.housing_rep.user, world.police_rep.user]):
        seen = services.research_for_item(world.coordinator.user, item)
        assert [r.agency.id for r in seen] == sorted(
            [world.council.id, world.police.id, world.housing.id],
            key=lambda i: db.session.get(Agency, i).name,  # type: ignore[union-attr]
        )
        police = next(r for r in seen if r.agency.id == world.police.id)
        assert (police.status, police.facts, police.opinion) == ("answered", FACTS, OPINION)
        assert [r.agency.id for r in services.research_for_item(world.housing_rep.user, item)] == [world.housing.id]
