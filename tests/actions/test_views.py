"""Action pages: our actions, one action with its status form (a missing note is refused on the page), a meeting's
action plan, and the quarterly non-completion report."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.actions.models import Action, ActionEvent, ActionStatus
from tests.conftest import FakeClock
from tests.factories import login_as, make_area, make_user, post_form
from tests.meetings.test_minutes import World, build_world

NOTE = "Order served on 2 November; copy sent to the IDVA"


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


def _events(action: Action) -> list[ActionEvent]:
    return list(db.session.scalars(select(ActionEvent).where(ActionEvent.action_id == action.id)))


def _later_police_action(world: World, due_on: date, status: str) -> Action:
    action = Action(
        case_id=world.cases[0].id, meeting_id=world.earlier.id, agency_id=world.police.id, due_on=due_on, status=status
    )
    action.description = "Police to share the custody record with the IDVA"
    db.session.add(action)
    db.session.commit()
    return action


def test_our_actions_lists_outstanding_first_and_flags_overdue(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    done = _later_police_action(world, date(2026, 10, 10), ActionStatus.COMPLETED.value)
    login_as(client, world.police_rep, clock)
    page = client.get("/actions").get_data(as_text=True)
    assert "Our actions" in page
    assert page.index(world.earlier_open.public_id) < page.index(done.public_id)
    assert page.count("Overdue</strong>") == 1
    assert world.earlier_done.public_id not in page  # housing's action
    filtered = client.get("/actions?status=completed").get_data(as_text=True)
    assert done.public_id in filtered
    assert world.earlier_open.public_id not in filtered
    assert "Your actions" in page  # the navigation link


def test_status_change_without_its_note_is_refused_on_the_page(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    action = world.earlier_open
    login_as(client, world.police_rep, clock)
    path = f"/actions/{action.public_id}"
    response = post_form(client, path, {"status": "completed", "note": ""})
    assert response.status_code == 400
    assert "Enter a completion note: what was done" in response.get_data(as_text=True)
    db.session.refresh(action)
    assert action.status == ActionStatus.OPEN.value
    assert _events(action) == []


def test_rep_completes_an_action_and_sees_its_history(client: FlaskClient, clock: FakeClock, world: World) -> None:
    action = world.earlier_open
    login_as(client, world.police_rep, clock)
    path = f"/actions/{action.public_id}"
    response = post_form(client, path, {"status": "completed", "note": NOTE})
    assert response.status_code == 302
    db.session.refresh(action)
    assert action.status == ActionStatus.COMPLETED.value
    page = client.get(path).get_data(as_text=True)
    assert NOTE in page
    assert "Open to Completed" in page
    assert "Update the status" not in page  # closed: only the coordinator may reopen it


def test_colleague_who_is_not_the_owner_sees_the_action_but_cannot_change_it(
    client: FlaskClient, clock: FakeClock, world: World
) -> None:
    colleague = make_user(Role.REFERRER, agency=world.police, areas=[world.meeting.area])
    login_as(client, colleague, clock)
    path = f"/actions/{world.earlier_open.public_id}"
    page = client.get(path).get_data(as_text=True)
    assert "Police to apply for a non-molestation order update" in page
    assert "Update the status" not in page
    response = post_form(client, path, {"status": "in_progress"})
    assert response.status_code == 403
    db.session.refresh(world.earlier_open)
    assert world.earlier_open.status == ActionStatus.OPEN.value


def test_a_stranger_gets_not_found(client: FlaskClient, clock: FakeClock, world: World) -> None:
    stranger = make_user(Role.AGENCY_REP, agency=world.council, areas=[make_area()])
    login_as(client, stranger, clock)
    assert client.get(f"/actions/{world.earlier_open.public_id}").status_code == 404


def test_meeting_action_plan_shows_each_action_status(client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.coordinator, clock)
    page = client.get(f"/meetings/{world.earlier.public_id}/actions").get_data(as_text=True)
    assert world.earlier_open.public_id in page
    assert world.earlier_done.public_id in page
    assert "Completed" in page
    assert "Overdue</strong>" in page


def test_quarterly_non_completion_report(client: FlaskClient, clock: FakeClock, world: World) -> None:
    _later_police_action(world, date(2026, 11, 1), ActionStatus.NOT_DONE.value)
    _later_police_action(world, date(2026, 11, 2), ActionStatus.COMPLETED.value)
    _later_police_action(world, date(2026, 12, 20), ActionStatus.OPEN.value)  # not yet due: outstanding, not overdue
    login_as(client, world.coordinator, clock)
    page = client.get("/reports/actions?quarter=2026-Q4").get_data(as_text=True)
    police_row = page[page.index(escape(world.police.name)) :].split("</tr>")[0]
    cells = [c.split(">")[-1] for c in police_row.split("</td>")[:-1]]
    # agreed, completed, not possible, not done, outstanding, overdue, rate: 2 of 4 not completed
    assert cells == ["4", "1", "0", "1", "2", "1", "50%"]
    housing_row = page[page.index(escape(world.housing.name)) :].split("</tr>")[0]
    assert "0%" in housing_row
    assert client.get("/reports/actions?quarter=2026-Q3").get_data(as_text=True).count("<tr") == 0


def test_report_refuses_a_quarter_it_cannot_read(client: FlaskClient, clock: FakeClock, world: World) -> None:
    login_as(client, world.coordinator, clock)
    response = client.get("/reports/actions?quarter=last-quarter")
    assert response.status_code == 400
    assert "Enter a quarter like 2026-Q4" in response.get_data(as_text=True)
