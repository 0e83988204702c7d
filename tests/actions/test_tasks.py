"""Action jobs with an injected clock: reminders before an action is due, overdue escalation to the agency's
representatives and their supervisors."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from flask import Flask
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.actions.models import Action, ActionStatus
from marac.actions.tasks import escalate_overdue_actions, send_action_reminders
from marac.notify.models import Notification, OutboxMessage
from marac.sharing.models import MustNotReceive
from tests.conftest import FakeClock
from tests.factories import make_user
from tests.meetings.test_minutes import World, build_world

WEDNESDAY = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.fixture
def world(app: Flask, clock: FakeClock) -> World:
    clock.current = WEDNESDAY
    return build_world()


def _action(world: World, due_on: date, *, owner: object = None, status: str = ActionStatus.OPEN.value) -> Action:
    action = Action(
        case_id=world.cases[0].id,
        meeting_id=world.earlier.id,
        agency_id=world.police.id,
        owner_id=getattr(owner, "id", None),
        due_on=due_on,
        status=status,
    )
    action.description = "Police to check the perpetrator's bail address"
    db.session.add(action)
    db.session.commit()
    return action


def _recipients(kind: str) -> list[int | None]:
    query = select(OutboxMessage.recipient_id).where(OutboxMessage.kind == kind).order_by(OutboxMessage.recipient_id)
    return list(db.session.scalars(query))


def test_reminder_goes_to_the_owner_within_three_working_days_once(world: World, clock: FakeClock) -> None:
    owner = make_user(Role.REFERRER, agency=world.police, areas=[world.meeting.area]).user
    monday = _action(world, date(2026, 11, 30), owner=owner)  # Thu, Fri, Mon: the third working day
    tuesday = _action(world, date(2026, 12, 1), owner=owner)
    assert send_action_reminders() == 1
    assert monday.reminded_on == date(2026, 11, 25)
    assert tuesday.reminded_on is None
    assert _recipients("action_reminder") == [owner.id]
    note = db.session.scalars(select(Notification).where(Notification.kind == "action_reminder")).one()
    assert world.cases[0].reference in (note.text or "")
    assert "30 November 2026" in (note.text or "")
    assert send_action_reminders() == 0  # the same day again: nothing more
    clock.current = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
    assert send_action_reminders() == 1  # Tuesday's action now falls within three working days
    assert _recipients("action_reminder") == [owner.id, owner.id]


def test_reminder_without_an_owner_goes_to_the_agency_reps(world: World) -> None:
    _action(world, date(2026, 11, 27))
    make_user(Role.AGENCY_REP, agency=world.housing, areas=[world.meeting.area])  # another agency's rep: not told
    assert send_action_reminders() == 1
    assert _recipients("action_reminder") == [world.police_rep.user.id]


def test_reminder_window_is_configurable_and_skips_closed_and_overdue(world: World, app: Flask) -> None:
    app.config["MARAC_ACTION_REMINDER_WORKING_DAYS"] = 5
    _action(world, date(2026, 12, 2))  # the fifth working day
    _action(world, date(2026, 11, 27), status=ActionStatus.COMPLETED.value)
    assert world.earlier_open.due_on < date(2026, 11, 25)  # already overdue: escalation's business, not a reminder
    assert send_action_reminders() == 1


def test_overdue_actions_escalate_to_reps_and_supervisors_once(world: World, clock: FakeClock) -> None:
    area = world.meeting.area
    supervisor = make_user(Role.SUPERVISOR, agency=world.police, areas=[area]).user
    make_user(Role.SUPERVISOR, agency=world.housing, areas=[area])  # another agency's supervisor: not told
    recent = _action(world, date(2026, 11, 20))  # 5 days overdue
    assert escalate_overdue_actions() == 1  # the earlier meeting's action, due 20 October
    assert world.earlier_open.escalated_at == WEDNESDAY
    assert recent.escalated_at is None
    assert _recipients("action_overdue_escalation") == sorted([world.police_rep.user.id, supervisor.id])
    notes = db.session.scalars(select(Notification).where(Notification.kind == "action_overdue_escalation")).all()
    assert all("36 days overdue" in (n.text or "") for n in notes)
    assert escalate_overdue_actions() == 0
    clock.current = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
    assert escalate_overdue_actions() == 1  # now 7 days overdue
    assert recent.escalated_at is not None


def test_escalation_days_are_configurable_and_closed_actions_never_escalate(world: World, app: Flask) -> None:
    app.config["MARAC_ACTION_ESCALATION_DAYS"] = 3
    _action(world, date(2026, 11, 22))
    _action(world, date(2026, 11, 1), status=ActionStatus.NOT_POSSIBLE.value)
    assert escalate_overdue_actions() == 2  # the earlier open one and the 3-day one


def test_escalation_without_reps_or_supervisors_reaches_the_coordinators(world: World) -> None:
    world.police_rep.user.is_active = False
    db.session.commit()
    assert escalate_overdue_actions() == 1
    assert _recipients("action_overdue_escalation") == [world.coordinator.user.id]


def test_nobody_on_the_case_must_not_receive_list_is_reminded_or_escalated_to(world: World) -> None:
    supervisor = make_user(Role.SUPERVISOR, agency=world.police, areas=[world.meeting.area]).user
    db.session.add(MustNotReceive(case_id=world.cases[0].id, user_id=world.police_rep.user.id))
    db.session.commit()
    _action(world, date(2026, 11, 27))  # due within the reminder window, no owner: the reps would be told
    assert send_action_reminders() == 1
    assert escalate_overdue_actions() == 1  # the earlier open action
    assert _recipients("action_reminder") == []
    assert _recipients("action_overdue_escalation") == [supervisor.id]
