"""Agencies report on their actions before the next meeting: progress reports, the daily request to report (once per
meeting and agency, only near the research deadline), and the "actions to report on" page."""

from __future__ import annotations

import html
from datetime import UTC, date, datetime

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marac import db
from marac.access import Role, acting_offline
from marac.actions.models import Action, ActionStatus
from marac.actions.status import record_action_status
from marac.actions.updates import actions_for_meeting, is_reported_for, reports_due, request_action_updates
from marac.audit.models import AuditEvent
from marac.notify.models import Notification, OutboxMessage
from marac.notify.services import BODY, MARKING
from marac.sharing.models import MustNotReceive
from tests.conftest import FakeClock
from tests.factories import login_as, make_accepted_case, make_area, make_meeting, make_user, post_form
from tests.meetings.test_minutes import World, build_world

#: Built on Wednesday 25 November; the meeting is Thursday 3 December, research due 10:00 Tuesday 1 December.
THURSDAY = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)  # research due within 3 working days (Fri, Mon, Tue)
NOTE = "Bail address checked on 20 November; conditions still in force"


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


def _requests() -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.kind == "action_update_request").order_by(OutboxMessage.id)
    return list(db.session.scalars(query))


def _progress(world: World, action: Action, note: str = NOTE) -> None:
    with acting_offline([world.police_rep.user]):
        record_action_status(world.police_rep.user, action, action.status, note)
    db.session.commit()


def _action_on_a_case_not_on_the_agenda(world: World) -> Action:
    other = make_accepted_case(world.meeting.area, world.police)
    action = Action(case_id=other.id, meeting_id=world.earlier.id, agency_id=world.police.id, due_on=date(2026, 12, 10))
    action.description = "Police to review the other case's bail conditions"
    db.session.add(action)
    db.session.commit()
    return action


def test_the_meeting_looks_at_its_cases_outstanding_actions_only(world: World) -> None:
    elsewhere = _action_on_a_case_not_on_the_agenda(world)
    assert actions_for_meeting(world.meeting) == [world.earlier_open]  # housing's completed one is left out
    assert actions_for_meeting(world.meeting, world.housing.id) == []
    assert elsewhere not in actions_for_meeting(world.meeting)
    due = reports_due(world.meeting)
    assert [(d.agency.id, d.actions) for d in due] == [(world.police.id, [world.earlier_open])]


def test_agencies_are_asked_once_when_the_research_deadline_is_near(world: World, clock: FakeClock) -> None:
    assert request_action_updates() == 0  # Wednesday: the deadline is four working days away
    clock.current = THURSDAY

    assert request_action_updates() == 1

    [message] = _requests()
    assert message.recipient_id == world.police_rep.user.id
    assert message.subject.startswith(MARKING)
    assert message.body == BODY
    assert world.cases[0].reference not in message.subject + message.body
    note = db.session.scalars(select(Notification).where(Notification.kind == "action_update_request")).one()
    assert note.link == f"/actions?meeting={world.meeting.public_id}"
    assert f"report progress on 1 action for {world.police.name} by 10:00 on Tuesday 1 December" in (note.text or "")
    assert "Thursday 3 December 2026" in (note.text or "")
    audits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "action.update_requested")).all()
    assert [(a.object_id, a.details) for a in audits] == [(world.meeting.public_id, {"to": 1, "new": 1})]

    clock.current = THURSDAY.replace(hour=15)
    assert request_action_updates() == 0  # asked already: nothing sent or audited again
    assert len(_requests()) == 1
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "action.update_requested")) == 1


def test_owners_are_asked_with_the_representatives(world: World, clock: FakeClock) -> None:
    owner = make_user(Role.REFERRER, agency=world.police, areas=[world.meeting.area]).user
    world.earlier_open.owner_id = owner.id
    db.session.commit()
    clock.current = THURSDAY
    request_action_updates()
    assert sorted(m.recipient_id for m in _requests()) == sorted([world.police_rep.user.id, owner.id])


def test_an_agency_without_representatives_leaves_it_to_the_coordinator(world: World, clock: FakeClock) -> None:
    world.police_rep.user.is_active = False
    db.session.commit()
    clock.current = THURSDAY
    request_action_updates()
    assert [m.recipient_id for m in _requests()] == [world.coordinator.user.id]


def test_an_action_reported_on_since_publication_is_not_asked_about(world: World, clock: FakeClock) -> None:
    assert not is_reported_for(world.earlier_open, world.meeting)
    world.earlier_open.reported_at = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)  # before the agenda was published
    db.session.commit()
    assert not is_reported_for(world.earlier_open, world.meeting)
    _progress(world, world.earlier_open)
    assert is_reported_for(world.earlier_open, world.meeting)
    clock.current = THURSDAY
    assert request_action_updates() == 0
    assert _requests() == []


def test_no_request_once_the_deadline_has_passed_or_for_an_unpublished_meeting(world: World, clock: FakeClock) -> None:
    unpublished = make_meeting(world.meeting.area, datetime(2026, 12, 4, 10, 0, tzinfo=UTC))
    db.session.commit()
    clock.current = datetime(2026, 12, 1, 10, 30, tzinfo=UTC)  # half an hour after research was due
    assert request_action_updates() == 0
    assert _requests() == []
    assert not unpublished.is_published


def test_report_page_shows_what_to_report_on_and_counts_the_reports(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    elsewhere = _action_on_a_case_not_on_the_agenda(world)
    login_as(client, world.police_rep, clock)
    path = f"/actions?meeting={world.meeting.public_id}"

    page = html.unescape(client.get(path).get_data(as_text=True))

    assert "Actions to report on before the meeting" in page
    assert world.meeting.reference in page
    assert "10:00 on Tuesday 1 December" in page
    assert "<strong>0 of 1</strong> reported on since the agenda was published" in page
    assert world.earlier_open.public_id in page
    assert elsewhere.public_id not in page
    assert "To report</strong>" in page

    _progress(world, world.earlier_open)
    page = html.unescape(client.get(path).get_data(as_text=True))
    assert "<strong>1 of 1</strong> reported on since the agenda was published" in page
    assert "Reported</strong>" in page
    assert "To report</strong>" not in page
    assert elsewhere.public_id in client.get("/actions").get_data(as_text=True)  # the full list still has it


def test_report_page_for_a_meeting_the_user_may_not_see_is_not_found_and_audited(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    other = make_meeting(make_area(), datetime(2026, 12, 3, 10, 0, tzinfo=UTC))
    db.session.commit()
    login_as(client, world.police_rep, clock)
    for asked in (other.public_id, "00000000-0000-4000-8000-000000000000", "not-a-meeting"):
        assert client.get(f"/actions?meeting={asked}").status_code == 404
    denials = db.session.scalars(select(AuditEvent).where(AuditEvent.outcome == "denied")).all()
    assert [d.object_id for d in denials if d.action == "meeting.view"][:2] == [
        other.public_id,
        "00000000-0000-4000-8000-000000000000",
    ]


def test_progress_report_on_the_page_needs_a_note_and_joins_the_history(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    login_as(client, world.police_rep, clock)
    path = f"/actions/{world.earlier_open.public_id}"
    form = html.unescape(client.get(path).get_data(as_text=True))
    assert "Open (no change): report progress" in form

    refused = post_form(client, path, {"status": "open", "note": ""})

    assert refused.status_code == 400
    assert "Enter the progress update" in html.unescape(refused.get_data(as_text=True))
    db.session.refresh(world.earlier_open)
    assert world.earlier_open.reported_at is None

    saved = post_form(client, path, {"status": "open", "note": NOTE})
    assert saved.status_code == 302
    page = html.unescape(client.get(path).get_data(as_text=True))
    assert "Progress update saved." in page
    assert "Progress update (open)" in page
    assert NOTE in page
    db.session.refresh(world.earlier_open)
    assert world.earlier_open.status == ActionStatus.OPEN.value
    assert world.earlier_open.reported_at is not None


def test_nobody_on_a_cases_must_not_receive_list_is_asked(world: World, clock: FakeClock) -> None:
    db.session.add(MustNotReceive(case_id=world.cases[0].id, user_id=world.police_rep.user.id))
    db.session.commit()
    clock.current = THURSDAY
    assert request_action_updates() == 1
    assert [m.recipient_id for m in _requests()] == [world.coordinator.user.id]  # nobody else left at the agency
