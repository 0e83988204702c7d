"""The agenda builder opens with the actions agreed at earlier meetings that are still outstanding for the cases on
the agenda: grouped by case in agenda order, overdue ones flagged, with when each was last updated, and audited."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from markupsafe import escape
from sqlalchemy import select, update

from marac import db
from marac.access import acting_offline
from marac.actions.models import Action, ActionStatus
from marac.actions.status import record_action_status
from marac.audit.models import AuditEvent
from marac.cases.models import Case
from marac.meetings.models import AgendaItem, ItemStatus, Meeting
from marac.orgs.models import Agency
from tests.conftest import FakeClock
from tests.factories import login_as, make_accepted_case
from tests.meetings.test_minutes import World, build_world, items

HEADING = "Outstanding actions from earlier meetings"
EMPTY = "No outstanding actions from earlier meetings for these cases"
OPEN_TEXT = "Police to apply for a non-molestation order update"


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


def _add_action(
    world: World, case: Case, agency: Agency, status: ActionStatus, text: str, due_on: date = date(2026, 12, 20)
) -> Action:
    """An action agreed at the earlier meeting for `case` (listed there when it was not already)."""
    item = db.session.scalar(
        select(AgendaItem).where(AgendaItem.meeting_id == world.earlier.id, AgendaItem.case_id == case.id)
    )
    if item is None:
        item = AgendaItem(meeting_id=world.earlier.id, case_id=case.id, position=2, status=ItemStatus.HEARD.value)
        db.session.add(item)
        db.session.flush()
    action = Action(
        case_id=case.id,
        meeting_id=world.earlier.id,
        agenda_item_id=item.id,
        agency_id=agency.id,
        due_on=due_on,
        status=status.value,
    )
    action.description = text
    db.session.add(action)
    db.session.commit()
    return action


def _agenda(client: FlaskClient, world: World, clock: FakeClock, meeting: Meeting | None = None) -> str:
    login_as(client, world.coordinator, clock)
    response = client.get(f"/meetings/{(meeting or world.meeting).public_id}/agenda")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _section(page: str) -> str:
    """The outstanding-actions section: from its heading to the capacity box that follows it."""
    start = page.index(f'id="outstanding-actions">{HEADING}')
    return page[start : page.index('id="capacity"', start)]


def _row(page: str, action: Action) -> str:
    """The table row showing `action`."""
    match = re.search(rf'<tr[^>]*id="earlier-action-{action.public_id}">(.*?)</tr>', page, re.S)
    assert match, f"no row for action {action.public_id}"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(1))).strip()


def _views(meeting: Meeting) -> list[AuditEvent]:
    query = select(AuditEvent).where(AuditEvent.action == "meeting.view", AuditEvent.object_id == meeting.public_id)
    return list(db.session.scalars(query))


def test_outstanding_actions_come_first_grouped_by_case_in_agenda_order(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    first, second = items(world)
    later = _add_action(world, second.case, world.housing, ActionStatus.IN_PROGRESS, "Housing to fit a door alarm")

    page = _agenda(client, world, clock)

    heading = page.index(HEADING)
    assert heading < page.index(OPEN_TEXT) < page.index(f'id="item-{first.public_id}"')  # before the agenda's cases
    assert heading < page.index("Housing to fit a door alarm") < page.index('id="agenda"')
    section = _section(page)
    assert section.index(f"1. Case {first.case.reference}") < section.index(OPEN_TEXT)
    assert section.index(OPEN_TEXT) < section.index(f"2. Case {second.case.reference}")
    assert section.index(f"2. Case {second.case.reference}") < section.index("Housing to fit a door alarm")
    row = _row(page, world.earlier_open)
    assert row.startswith(f"{first.case.reference} {escape(world.police.name)} Not named {OPEN_TEXT}")
    assert "20 Oct 2026" in row
    assert "Open" in row
    assert f'href="/actions/{world.earlier_open.public_id}"' in section
    assert "In progress" in _row(page, later)
    assert EMPTY not in page


def test_closed_actions_and_cases_not_on_the_agenda_are_left_out(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    first = items(world)[0]
    _add_action(world, first.case, world.police, ActionStatus.NOT_POSSIBLE, "Police to trace the car seen outside")
    elsewhere = make_accepted_case(first.case.area, world.police)  # waiting for a meeting: not on this agenda
    _add_action(world, elsewhere, world.police, ActionStatus.OPEN, "Police to visit the other household")

    page = _agenda(client, world, clock)

    section = _section(page)
    assert OPEN_TEXT in section
    assert "Housing to move the family" not in page  # completed
    assert "Police to trace the car seen outside" not in page  # not possible
    assert "Police to visit the other household" not in page
    assert elsewhere.reference not in section
    assert section.count('class="govuk-table__row earlier-action"') == 1


def test_overdue_tag_follows_the_clock(world: World, client: FlaskClient, clock: FakeClock) -> None:
    clock.current = datetime(2026, 10, 19, 9, 0, tzinfo=UTC)  # the day before it is due
    assert "Overdue" not in _row(_agenda(client, world, clock), world.earlier_open)

    clock.current = datetime(2026, 10, 21, 9, 0, tzinfo=UTC)  # the day after
    row = _row(_agenda(client, world, clock), world.earlier_open)
    assert "20 Oct 2026 Overdue" in row


def test_action_not_yet_due_is_not_overdue(world: World, client: FlaskClient, clock: FakeClock) -> None:
    later = _add_action(world, items(world)[1].case, world.housing, ActionStatus.OPEN, "Housing to fit a door alarm")
    page = _agenda(client, world, clock)  # 25 November 2026; due 20 December
    assert "Overdue" not in _row(page, later)
    assert "Overdue" in _row(page, world.earlier_open)


def test_shows_when_the_agency_last_reported_progress(world: World, client: FlaskClient, clock: FakeClock) -> None:
    later = _add_action(world, items(world)[1].case, world.housing, ActionStatus.OPEN, "Housing to fit a door alarm")
    clock.current = datetime(2026, 11, 24, 23, 30, tzinfo=UTC)  # still 24 November in London (GMT)
    with acting_offline([world.police_rep.user]):
        record_action_status(world.police_rep.user, world.earlier_open, ActionStatus.IN_PROGRESS.value, None)
    db.session.commit()
    clock.current = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)

    page = _agenda(client, world, clock)

    updated = _row(page, world.earlier_open)
    assert "In progress" in updated
    assert updated.endswith("Updated 24 November 2026")
    assert _row(page, later).endswith("No update reported")


def test_empty_message_when_no_case_has_outstanding_actions(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    world.earlier_open.status = ActionStatus.COMPLETED.value
    db.session.commit()

    page = _agenda(client, world, clock)

    assert page.index(HEADING) < page.index(EMPTY) < page.index(f'id="item-{items(world)[0].public_id}"')
    assert OPEN_TEXT not in page
    assert "earlier-action-" not in page


def test_actions_agreed_after_this_meeting_are_not_earlier_ones(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    """The earlier meeting's agenda shows nothing from the meeting after it (nor its own actions)."""
    world.earlier.starts_at = datetime(2026, 12, 10, 10, 0, tzinfo=UTC)  # the earlier meeting now comes after
    db.session.commit()
    page = _agenda(client, world, clock)
    assert EMPTY in page
    assert OPEN_TEXT not in page


def test_reading_the_actions_is_audited(world: World, client: FlaskClient, clock: FakeClock) -> None:
    _agenda(client, world, clock)

    [event] = _views(world.meeting)
    assert event.actor_user_id == world.coordinator.user.id
    assert event.outcome == "success"
    details: dict[str, Any] = event.details or {}
    assert (details["page"], details["cases"], details["earlier_actions"]) == ("agenda_builder", 2, 1)


def test_an_unreadable_action_description_is_audited(world: World, client: FlaskClient, clock: FakeClock) -> None:
    """A ciphertext moved from another action does not open: the page still renders and the failure is audited."""
    table = Action.__table__
    db.session.execute(
        update(table).where(table.c.id == world.earlier_open.id).values(description=world.earlier_done.description_enc)
    )
    db.session.commit()
    db.session.expire_all()

    page = _agenda(client, world, clock)

    assert "Housing to move the family" not in page
    assert f"earlier-action-{world.earlier_open.public_id}" in page
    query = select(AuditEvent).where(
        AuditEvent.action == "field.unreadable", AuditEvent.object_id == world.earlier_open.public_id
    )
    [event] = db.session.scalars(query)
    assert (event.object_type, event.outcome, event.actor_user_id) == ("actions", "failure", world.coordinator.user.id)
    assert (event.details or {}).get("column") == "description"


def test_agency_representative_cannot_open_the_agenda_builder(
    world: World, client: FlaskClient, clock: FakeClock
) -> None:
    login_as(client, world.police_rep, clock)
    response = client.get(f"/meetings/{world.meeting.public_id}/agenda")
    assert response.status_code in {403, 404}
    assert OPEN_TEXT not in response.get_data(as_text=True)
