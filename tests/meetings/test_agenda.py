"""The agenda builder: allocation, order, time budgets, capacity, deferral, publication and who then sees what."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marac import db
from marac.access import CaseRelation, Role, acting_offline, case_relations
from marac.audit.models import AuditEvent
from marac.cases.models import CaseStatus, Referral
from marac.meetings import services
from marac.meetings.models import ItemStatus, Meeting, ResearchRequest
from marac.notify.models import OutboxMessage
from marac.notify.services import BODY
from marac.orgs.models import AgencyKind
from tests.conftest import FakeClock
from tests.factories import (
    Account,
    login_as,
    make_accepted_case,
    make_agency,
    make_area,
    make_case,
    make_meeting,
    make_user,
    post_form,
)

MEETING_AT = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)


@dataclass
class World:
    """An area with three member agencies, their representatives, a coordinator and a meeting."""

    area: Any
    coordinator: Account
    police_rep: Account
    housing_rep: Account
    outsider_rep: Account
    meeting: Meeting


@pytest.fixture
def world(app: Flask) -> World:
    area = make_area()
    council = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area])
    police = make_agency(AgencyKind.POLICE, areas=[area])
    housing = make_agency(AgencyKind.HOUSING, areas=[area])
    elsewhere = make_agency(AgencyKind.HOUSING, areas=[make_area()])
    return World(
        area=area,
        coordinator=make_user(Role.COORDINATOR, agency=council, areas=[area]),
        police_rep=make_user(Role.AGENCY_REP, agency=police, areas=[area]),
        housing_rep=make_user(Role.AGENCY_REP, agency=housing),
        outsider_rep=make_user(Role.AGENCY_REP, agency=elsewhere),
        meeting=make_meeting(area, MEETING_AT, length_minutes=120, case_limit=12),
    )


def _agenda(world: World) -> str:
    return f"/meetings/{world.meeting.public_id}/agenda"


def _allocate(client: FlaskClient, world: World, case: Any) -> Any:
    return post_form(client, f"{_agenda(world)}/allocate", {"case": case.public_id}, form_path=_agenda(world))


def test_waiting_list_holds_accepted_referrals_only(world: World, client: FlaskClient, clock: FakeClock) -> None:
    accepted = make_accepted_case(world.area)
    waiting_decision = make_case(area=world.area)
    waiting_decision.status = CaseStatus.AWAITING_DECISION.value
    db.session.commit()
    login_as(client, world.coordinator, clock)
    page = client.get(_agenda(world)).get_data(as_text=True)
    assert accepted.reference in page
    assert waiting_decision.reference not in page
    response = _allocate(client, world, waiting_decision)
    assert response.status_code == 400
    assert "is not an accepted referral: only accepted referrals go on an agenda" in response.get_data(as_text=True)
    assert _allocate(client, world, accepted).status_code == 302
    assert db.session.scalar(select(func.count()).select_from(ResearchRequest)) == 0  # none until publication
    response = _allocate(client, world, accepted)
    assert response.status_code == 400
    assert "is already on an agenda" in response.get_data(as_text=True)


def test_order_moves_with_plain_forms(world: World, client: FlaskClient, clock: FakeClock) -> None:
    cases = [make_accepted_case(world.area) for _ in range(3)]
    login_as(client, world.coordinator, clock)
    for case in cases:
        _allocate(client, world, case)
    db.session.expire_all()
    last = world.meeting.items[-1]
    path = f"{_agenda(world)}/{last.public_id}/move"
    assert post_form(client, path, {"direction": "up"}, form_path=_agenda(world)).status_code == 302
    assert post_form(client, path, {"direction": "up"}, form_path=_agenda(world)).status_code == 302
    db.session.expire_all()
    order = [i.case.reference for i in services.listed_items(world.meeting)]
    assert order == [cases[2].reference, cases[0].reference, cases[1].reference]
    page = client.get(_agenda(world)).get_data(as_text=True)
    assert page.index(cases[2].reference) < page.index(cases[0].reference) < page.index(cases[1].reference)


def test_capacity_warns_over_the_length_and_the_case_limit(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.coordinator, clock)
    cases = [make_accepted_case(world.area) for _ in range(13)]
    for case in cases[:12]:
        _allocate(client, world, case)
    db.session.expire_all()
    capacity = services.capacity(world.meeting)
    assert (capacity.cases, capacity.minutes) == (12, 120)
    assert not capacity.warnings  # exactly full is not over
    first = world.meeting.items[0]
    response = post_form(client, f"{_agenda(world)}/{first.public_id}/budget", {"minutes": "15"}, _agenda(world))
    assert response.status_code == 302
    page = client.get(_agenda(world)).get_data(as_text=True)
    assert "The cases need 125 minutes but the meeting is 120 minutes long: 5 minutes over" in page
    _allocate(client, world, cases[12])
    page = client.get(_agenda(world)).get_data(as_text=True)
    assert "13 cases is more than this area&#39;s limit of 12 cases a meeting" in page
    response = post_form(client, f"{_agenda(world)}/{first.public_id}/budget", {"minutes": "ninety"}, _agenda(world))
    assert response.status_code == 400
    assert "Enter the minutes for the case as a whole number" in response.get_data(as_text=True)
    response = post_form(client, f"{_agenda(world)}/{first.public_id}/budget", {"minutes": "90"}, _agenda(world))
    assert response.status_code == 400
    assert "between 5 and 60 minutes" in response.get_data(as_text=True)


def test_publishing_an_empty_agenda_is_refused(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.coordinator, clock)
    response = post_form(client, f"/meetings/{world.meeting.public_id}/publish", {}, form_path=_agenda(world))
    assert response.status_code == 400
    assert "There are no cases on this agenda" in response.get_data(as_text=True)
    db.session.expire_all()
    assert not world.meeting.is_published


def test_publishing_asks_each_member_agency_and_tells_representatives_without_content(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    cases = [make_accepted_case(world.area) for _ in range(2)]
    login_as(client, world.coordinator, clock)
    for case in cases:
        _allocate(client, world, case)
    response = post_form(client, f"/meetings/{world.meeting.public_id}/publish", {}, form_path=_agenda(world))
    assert response.status_code == 302
    db.session.expire_all()
    members = len(world.area.agencies)
    assert db.session.scalar(select(func.count()).select_from(ResearchRequest)) == 2 * members
    messages = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "agenda_published")).all()
    recipients = {m.recipient_id for m in messages}
    assert {world.police_rep.user.id, world.housing_rep.user.id, world.coordinator.user.id} <= recipients
    assert world.outsider_rep.user.id not in recipients
    for message in messages:
        assert message.subject.startswith("OFFICIAL-SENSITIVE")
        assert message.body == BODY
        for case in cases:
            assert case.reference not in message.subject + message.body
            assert case.reference.encode() not in (message.attachment or b"")


def test_a_late_addition_is_marked_and_researched_at_once(world: World, client: FlaskClient, clock: FakeClock) -> None:
    first, late = make_accepted_case(world.area), make_accepted_case(world.area)
    with acting_offline([world.coordinator.user]):
        services.allocate(world.coordinator.user, world.meeting, first)
        services.publish_agenda(world.coordinator.user, world.meeting)
    db.session.commit()
    login_as(client, world.coordinator, clock)
    assert _allocate(client, world, late).status_code == 302
    db.session.expire_all()
    item = next(i for i in world.meeting.items if i.case_id == late.id)
    assert item.is_late
    requests = db.session.scalar(
        select(func.count()).select_from(ResearchRequest).where(ResearchRequest.agenda_item_id == item.id)
    )
    assert requests == len(world.area.agencies)
    page = client.get(f"/meetings/{world.meeting.public_id}").get_data(as_text=True)
    assert "Late addition" in page


def test_deferring_needs_a_reason_and_returns_the_case_to_the_waiting_list(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    case = make_accepted_case(world.area)
    with acting_offline([world.coordinator.user]):
        item = services.allocate(world.coordinator.user, world.meeting, case)
        services.publish_agenda(world.coordinator.user, world.meeting)
    db.session.commit()
    login_as(client, world.coordinator, clock)
    path = f"{_agenda(world)}/{item.public_id}/defer"
    response = post_form(client, path, {"reason": ""})
    assert response.status_code == 400
    assert "Enter why the case is deferred" in response.get_data(as_text=True)
    assert post_form(client, path, {"reason": "Waiting for the police disclosure"}).status_code == 302
    db.session.expire_all()
    assert item.status == ItemStatus.DEFERRED.value
    assert item.deferral_reason == "Waiting for the police disclosure"
    with acting_offline([world.coordinator.user]):
        assert case in services.awaiting_allocation(world.coordinator.user, world.area.id)


def test_member_agencies_see_a_published_agenda_and_its_cases_for_twelve_months(
    app: Flask, world: World, client: FlaskClient, clock: FakeClock
) -> None:
    case = make_accepted_case(world.area)
    with acting_offline([world.coordinator.user]):
        services.allocate(world.coordinator.user, world.meeting, case)
    db.session.commit()
    meeting_path = f"/meetings/{world.meeting.public_id}"
    login_as(client, world.police_rep, clock)
    assert client.get(meeting_path).status_code == 404  # not published yet
    assert client.get(f"/cases/{case.public_id}").status_code == 404
    with acting_offline([world.coordinator.user]):
        services.publish_agenda(world.coordinator.user, world.meeting)
    db.session.commit()
    page = client.get(meeting_path)
    assert page.status_code == 200
    assert case.reference in page.get_data(as_text=True)
    assert client.get(f"/cases/{case.public_id}").status_code == 200
    with acting_offline([world.police_rep.user]):
        assert CaseRelation.MEETING_MEMBER in case_relations(world.police_rep.user, case)
        assert not case_relations(world.police_rep.user, case, now=MEETING_AT + timedelta(days=366))
    with acting_offline([world.outsider_rep.user]):
        assert not case_relations(world.outsider_rep.user, case)
    outsider = app.test_client()
    login_as(outsider, world.outsider_rep, clock)
    assert outsider.get(meeting_path).status_code == 404
    denied = db.session.scalar(
        select(AuditEvent).where(AuditEvent.object_id == world.meeting.public_id, AuditEvent.outcome == "denied")
    )
    assert denied is not None


def test_the_agenda_cannot_change_once_the_meeting_has_started(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    case = make_accepted_case(world.area)
    clock.current = MEETING_AT + timedelta(minutes=5)
    login_as(client, world.coordinator, clock)
    response = _allocate(client, world, case)
    assert response.status_code == 400
    assert "already started" in response.get_data(as_text=True)
    assert db.session.scalar(select(Referral.decision).where(Referral.case_id == case.id)) == "accepted"
