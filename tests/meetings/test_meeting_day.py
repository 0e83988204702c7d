"""The meeting pages: recording the meeting, the chair's sign-off, distribution, the minutes page and a case's
meeting history, with who may open them."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from marac import db
from marac.access import Role, acting_offline
from marac.actions.models import Action
from marac.audit.models import AuditEvent
from marac.meetings import services
from marac.meetings.models import AgendaItem, Attendance, ItemStatus, MinutesVersion, Observer
from marac.orgs.models import AgencyKind
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_agency, make_area, make_user
from tests.meetings.test_minutes import MINUTES, World, build_world, items, record_everything, sign, start_meeting


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


TOKEN = re.compile(r'name="[^"]*csrf_token"[^>]*value="([^"]+)"')


def _record_path(world: World) -> str:
    return f"/meetings/{world.meeting.public_id}/record"


def _post(client: FlaskClient, world: World, path: str, prefix: str | None, data: dict[str, Any]) -> Any:
    """Submit one of the meeting page's forms (each prefixed), with a CSRF token from the page."""
    page = client.get(_record_path(world)).get_data(as_text=True)
    match = TOKEN.search(page)
    assert match, "no CSRF token on the meeting page"
    named = {f"{prefix}-{k}" if prefix else k: v for k, v in data.items()}
    return client.post(path, data={f"{prefix}-csrf_token" if prefix else "csrf_token": match.group(1), **named})


def _discussion(client: FlaskClient, world: World, item: AgendaItem, **data: str) -> Any:
    path = f"{_record_path(world)}/{item.public_id}/discussion"
    return _post(client, world, path, f"d-{item.public_id}", {"victim_voice": "", "risks": "", **data})


def _action(client: FlaskClient, world: World, item: AgendaItem, **data: Any) -> Any:
    values = {
        "agency": world.police.public_id,
        "owner": "",
        "description": "Police to review the bail conditions and tell the IDVA",
        "due_on": ["10", "12", "2026"],
        **data,
    }
    return _post(client, world, f"{_record_path(world)}/{item.public_id}/actions", f"a-{item.public_id}", values)


def _signed_in(client: FlaskClient, account: Account, clock: FakeClock) -> FlaskClient:
    login_as(client, account, clock)
    return client


def _denials(object_id: str) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.outcome == "denied", AuditEvent.object_id == object_id)
    return list(db.session.scalars(query))


def test_meeting_page_shows_earlier_outstanding_actions_before_the_discussion(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    start_meeting(clock)
    login_as(client, world.coordinator, clock)
    response = client.get(_record_path(world))
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    first = page.index(f'id="case-{items(world)[0].public_id}"')
    earlier = page.index("Police to apply for a non-molestation order update", first)
    assert earlier < page.index("Research shared", first) < page.index("Minutes of the discussion", first)
    assert "Housing to move the family" not in page  # completed: not outstanding
    assert str(escape(world.police.name)) in page
    assert f'name="status-{world.police.public_id}"' in page  # the attendance register, nothing ticked yet
    assert f'name="status-{world.police.public_id}" type="radio" value="present" checked' not in page


def test_discussion_before_the_meeting_started_is_refused_and_nothing_saved(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.coordinator, clock)
    item = items(world)[0]
    response = _discussion(client, world, item, minutes=MINUTES)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Minutes can only be recorded once the meeting has started (it starts on Thursday 3 December 2026" in page
    db.session.expire_all()
    assert item.minutes is None
    assert item.status == ItemStatus.LISTED.value


def test_discussion_is_saved_and_the_case_marked_heard(world: World, client: FlaskClient, clock: FakeClock) -> None:
    start_meeting(clock)
    login_as(client, world.coordinator, clock)
    item = items(world)[0]
    response = _discussion(client, world, item, victim_voice="Wants to stay", risks="Threats to kill", minutes=MINUTES)
    assert response.status_code == 302
    db.session.expire_all()
    assert item.status == ItemStatus.HEARD.value
    assert item.minutes == MINUTES
    assert item.risks == "Threats to kill"
    empty = _discussion(client, world, items(world)[1], minutes="  ")
    assert empty.status_code == 400
    assert "Enter the minutes of the discussion" in empty.get_data(as_text=True)


def _register(client: FlaskClient, world: World, lines: dict[Any, dict[str, str]], **extra: str) -> Any:
    """Submit the attendance register with these agencies' lines (status, attendees, sent)."""
    data = {f"{k}-{agency.public_id}": v for agency, line in lines.items() for k, v in line.items()}
    return _post(client, world, f"{_record_path(world)}/register", None, {**data, **extra})


def test_attendance_and_apologies_with_information_sent(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.coordinator, clock)
    apologies = {world.housing: {"status": "apologies", "sent": "yes"}}
    assert _register(client, world, apologies).status_code == 302  # apologies before the meeting
    early = _register(client, world, {world.police: {"status": "present", "attendees": "DS Example"}})
    assert early.status_code == 400
    assert "once the meeting has started" in early.get_data(as_text=True)
    start_meeting(clock)
    login_as(client, world.coordinator, clock)  # a week on: the first session has timed out
    missing = {world.police: {"status": "present", "attendees": ""}, world.council: {"status": "absent"}}
    refused = _register(client, world, missing)
    assert refused.status_code == 400
    assert f"Enter who attended for {escape(world.police.name)}" in refused.get_data(as_text=True)
    assert db.session.scalar(select(Attendance).where(Attendance.agency_id == world.council.id)) is None  # whole
    no_answer = _register(client, world, {world.housing: {"status": "apologies", "sent": ""}})
    assert no_answer.status_code == 400
    assert "sent its information before the meeting" in no_answer.get_data(as_text=True)
    present = {world.police: {"status": "present", "attendees": "DS Example, MARAC officer"}}
    assert _register(client, world, {**present, world.council: {"status": "absent"}}).status_code == 302
    page = client.get(_record_path(world)).get_data(as_text=True)
    assert 'value="yes" selected' in page
    assert "DS Example, MARAC officer" in page
    rows = {a.agency_id: a.status for a in db.session.scalars(select(Attendance))}
    assert rows == {world.housing.id: "apologies", world.police.id: "present", world.council.id: "absent"}


def test_observer_without_a_signed_statement_is_refused(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.coordinator, clock)
    page = client.get(_record_path(world)).get_data(as_text=True)
    assert services.CONFIDENTIALITY_STATEMENT in page
    assert services.STATEMENT_VERSION in page
    path = f"{_record_path(world)}/observers"
    data = {"name": "Sam Student", "organisation": "University", "purpose": "Placement"}
    refused = _post(client, world, path, "observer", data)
    assert refused.status_code == 400
    assert "must sign the confidentiality statement" in refused.get_data(as_text=True)
    assert db.session.scalars(select(Observer)).all() == []
    assert _post(client, world, path, "observer", {**data, "statement_signed": "y"}).status_code == 302
    assert [o.name for o in db.session.scalars(select(Observer))] == ["Sam Student"]


def test_actions_are_added_and_bad_ones_refused_with_a_message(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    start_meeting(clock)
    login_as(client, world.coordinator, clock)
    item = items(world)[0]
    outsider = make_agency(AgencyKind.HEALTH)
    elsewhere = make_user(Role.AGENCY_REP, agency=world.housing).user
    cases = [
        ({"agency": outsider.public_id}, "Select a member agency of this MARAC"),
        ({"owner": elsewhere.public_id}, f"The owner must work for {escape(world.police.name)}"),
        ({"due_on": ["1", "12", "2026"]}, "The due date cannot be before the meeting"),
        ({"due_on": ["31", "2", "2026"]}, "Due date must be a real date"),
    ]
    for data, message in cases:
        response = _action(client, world, item, **data)
        assert response.status_code == 400, data
        assert message in response.get_data(as_text=True), data
    assert db.session.scalars(select(Action).where(Action.meeting_id == world.meeting.id)).all() == []
    assert _action(client, world, item, owner=world.police_rep.user.public_id).status_code == 302
    page = client.get(_record_path(world)).get_data(as_text=True)
    assert "Police to review the bail conditions and tell the IDVA, due 10 Dec 2026" in page


def test_chair_signs_off_and_coordinator_distributes(
    world: World, app: Flask, client: FlaskClient, clock: FakeClock
) -> None:
    start_meeting(clock)
    record_everything(world)
    path = f"/meetings/{world.meeting.public_id}/sign-off"
    login_as(client, world.chair, clock)
    record_page = client.get(_record_path(world)).get_data(as_text=True)
    assert "Sign off the minutes" in record_page
    assert "Add an action" not in record_page  # the chair reads; the coordinator records
    page = client.get(path).get_data(as_text=True)
    assert MINUTES in page
    unconfirmed = client.post(path, data={"csrf_token": TOKEN.search(page).group(1)})  # type: ignore[union-attr]
    assert unconfirmed.status_code == 400
    assert "Confirm that the minutes are a true record" in unconfirmed.text
    response = client.post(path, data={"csrf_token": TOKEN.search(page).group(1), "confirm": "y"})  # type: ignore[union-attr]
    assert response.status_code == 302
    version = db.session.scalars(select(MinutesVersion)).one()
    assert version.version == 1
    assert version.signed_by_id == world.chair.user.id
    minutes_page = client.get(f"/meetings/{world.meeting.public_id}/minutes").get_data(as_text=True)
    assert version.digest in minutes_page
    assert "Signed</strong> version 1" in minutes_page
    client = _signed_in(app.test_client(), world.coordinator, clock)
    assert client.get(path).status_code == 403  # coordinators cannot sign
    minutes_path = f"/meetings/{world.meeting.public_id}/minutes"
    token = TOKEN.search(client.get(minutes_path).get_data(as_text=True)).group(1)  # type: ignore[union-attr]
    sent = client.post(f"/meetings/{world.meeting.public_id}/distribute", data={"csrf_token": token})
    assert sent.status_code == 302
    db.session.expire_all()
    assert world.meeting.distributed_version == 1


def test_a_chair_of_another_area_cannot_sign(world: World, client: FlaskClient, clock: FakeClock) -> None:
    start_meeting(clock)
    record_everything(world)
    other = make_user(Role.CHAIR, agency=world.council, areas=[make_area()])
    login_as(client, other, clock)
    assert client.get(f"/meetings/{world.meeting.public_id}/sign-off").status_code == 404
    assert _denials(world.meeting.public_id)


def test_change_after_sign_off_needs_a_reason_on_the_page(world: World, client: FlaskClient, clock: FakeClock) -> None:
    start_meeting(clock)
    record_everything(world)
    sign(world)
    login_as(client, world.coordinator, clock)
    item = items(world)[0]
    refused = _discussion(client, world, item, minutes="Corrected minutes for the record.")
    assert refused.status_code == 400
    assert "say why they are changing" in refused.get_data(as_text=True)
    db.session.expire_all()
    assert item.minutes == MINUTES
    assert world.meeting.minutes_version == 1
    done = _discussion(client, world, item, minutes="Corrected minutes for the record.", change_reason="Typo fixed")
    assert done.status_code == 302
    db.session.expire_all()
    assert world.meeting.minutes_version == 2
    assert world.meeting.signed_version == 1


def test_minutes_page_shows_the_deadline_and_overdue_until_distributed(
    world: World, app: Flask, clock: FakeClock
) -> None:
    start_meeting(clock)
    record_everything(world)
    sign(world)
    path = f"/meetings/{world.meeting.public_id}/minutes"

    def page_on(day: int) -> str:
        clock.current = clock.current.replace(day=day)
        return _signed_in(app.test_client(), world.coordinator, clock).get(path).get_data(as_text=True)

    page = page_on(8)  # Tuesday 8 December: day 3
    assert "Due with member agencies by Tuesday 8 December 2026" in page
    assert 'id="overdue"' not in page
    assert 'id="overdue"' in page_on(9)
    with acting_offline([world.coordinator.user]):
        services.distribute_minutes(world.coordinator.user, world.meeting)
    db.session.commit()
    assert 'id="overdue"' not in page_on(9)


def test_minutes_page_before_any_minutes_is_a_clear_409(world: World, client: FlaskClient, clock: FakeClock) -> None:
    login_as(client, world.coordinator, clock)
    response = client.get(f"/meetings/{world.meeting.public_id}/minutes")
    assert response.status_code == 409
    assert "No minutes have been recorded" in response.get_data(as_text=True)


def test_representative_reads_the_minutes_but_cannot_record(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    start_meeting(clock)
    record_everything(world)
    login_as(client, world.police_rep, clock)
    minutes = f"/meetings/{world.meeting.public_id}/minutes"
    response = client.get(minutes)
    assert response.status_code == 409  # drafts stay with the coordinator and chair
    assert "not been distributed to member agencies yet" in response.get_data(as_text=True)
    assert client.get(f"{minutes}.pdf").status_code == 409
    with acting_offline([world.chair.user, world.coordinator.user]):
        services.sign_off_minutes(world.chair.user, world.meeting)
        services.distribute_minutes(world.coordinator.user, world.meeting)
    db.session.commit()
    assert client.get(minutes).status_code == 200
    assert client.get(_record_path(world)).status_code == 404
    assert _denials(world.meeting.public_id)


def test_case_history_lists_meetings_and_actions(world: World, client: FlaskClient, clock: FakeClock) -> None:
    start_meeting(clock)
    login_as(client, world.coordinator, clock)
    assert _action(client, world, items(world)[0]).status_code == 302
    case = world.cases[0]
    response = client.get(f"/cases/{case.public_id}/meetings")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert page.index(world.meeting.reference) < page.index(world.earlier.reference)
    assert "Police to review the bail conditions" in page
    assert "Police to apply for a non-molestation" in page
    assert "Housing to move the family" in page  # completed actions stay in the history
    view = client.get(f"/cases/{case.public_id}").get_data(as_text=True)
    assert f"/cases/{case.public_id}/meetings" in view


def test_case_history_without_access_is_404_and_audited(world: World, client: FlaskClient, clock: FakeClock) -> None:
    stranger = make_user(Role.REFERRER, agency=make_agency(AgencyKind.HEALTH))
    login_as(client, stranger, clock)
    case = world.cases[0]
    response = client.get(f"/cases/{case.public_id}/meetings")
    assert response.status_code == 404
    assert "Police to apply" not in response.get_data(as_text=True)
    assert [e.action for e in _denials(case.public_id)] == ["case.view"]


def test_coordinator_of_another_area_gets_404_for_the_meeting_page(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    area = make_area()
    other = make_user(Role.COORDINATOR, agency=make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area]), areas=[area])
    login_as(client, other, clock)
    assert client.get(_record_path(world)).status_code == 404
    item = items(world)[0]
    assert client.post(f"{_record_path(world)}/{item.public_id}/discussion", data={}).status_code in {400, 404}
    assert [e.action for e in _denials(world.meeting.public_id)][:1] == ["meeting.view"]
