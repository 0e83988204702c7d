"""Reporting an action's progress: allowed transitions, the notes they need, who may make them, the history, and
the coordinators being told."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from marac import db
from marac.access import Role, acting_offline, can_see_action, can_update_action
from marac.actions.models import Action, ActionEvent, ActionStatus
from marac.actions.services import ActionError
from marac.actions.status import action_history, next_statuses, record_action_status
from marac.audit.models import AuditEvent
from marac.notify.models import Notification, OutboxMessage
from tests.factories import make_area, make_user
from tests.meetings.test_minutes import World, build_world

NOTE = "Bail conditions reviewed and extended; IDVA told"


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


def _change(actor: Any, action: Action, status: ActionStatus, note: str | None = None) -> ActionEvent:
    with acting_offline([actor]):
        event = record_action_status(actor, action, status.value, note)
    db.session.commit()
    return event


def _events(action: Action) -> list[ActionEvent]:
    return list(db.session.scalars(select(ActionEvent).where(ActionEvent.action_id == action.id)))


def test_rep_marks_action_in_progress_without_note(world: World) -> None:
    action = world.earlier_open
    event = _change(world.police_rep.user, action, ActionStatus.IN_PROGRESS)
    assert action.status == ActionStatus.IN_PROGRESS.value
    assert action.status_changed_at == event.changed_at
    assert (event.from_status, event.to_status, event.note) == ("open", "in_progress", None)


@pytest.mark.parametrize(
    ("status", "message"),
    [
        (ActionStatus.COMPLETED, "Enter a completion note"),
        (ActionStatus.NOT_POSSIBLE, "Enter why the action is no longer possible"),
    ],
)
def test_closing_without_its_note_is_refused_and_nothing_saved(
    world: World, status: ActionStatus, message: str
) -> None:
    action = world.earlier_open
    with pytest.raises(ActionError, match=message):
        _change(world.police_rep.user, action, status, "   ")
    db.session.rollback()
    assert action.status == ActionStatus.OPEN.value
    assert _events(action) == []


def test_completion_keeps_the_note_in_the_history_and_audits_without_it(world: World) -> None:
    action = world.earlier_open
    _change(world.police_rep.user, action, ActionStatus.COMPLETED, NOTE)
    assert action.status == ActionStatus.COMPLETED.value
    assert action.status_note == NOTE
    assert [e.note for e in action_history(action)] == [NOTE]
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "action.status")).one()
    assert audit.details == {"from": "open", "to": "completed"}
    assert NOTE not in str(audit.details)


def test_only_the_coordinator_records_not_done(world: World) -> None:
    action = world.earlier_open
    assert ActionStatus.NOT_DONE not in next_statuses(world.police_rep.user, action)
    with pytest.raises(ActionError, match="Only the MARAC coordinator records"):
        _change(world.police_rep.user, action, ActionStatus.NOT_DONE, "Not done by the review")
    db.session.rollback()
    with pytest.raises(ActionError, match="Enter why the action was not done"):
        _change(world.coordinator.user, action, ActionStatus.NOT_DONE)
    db.session.rollback()
    _change(world.coordinator.user, action, ActionStatus.NOT_DONE, "Officer on long-term leave; not picked up")
    assert action.status == ActionStatus.NOT_DONE.value


def test_closed_action_is_reopened_only_by_the_coordinator_with_a_note(world: World) -> None:
    action = world.earlier_done  # housing, completed
    housing_rep = make_user(Role.AGENCY_REP, agency=world.housing, areas=[world.meeting.area])
    assert next_statuses(housing_rep.user, action) == []
    with pytest.raises(ActionError, match="only the MARAC coordinator can reopen"):
        _change(housing_rep.user, action, ActionStatus.OPEN, "Reopen please")
    db.session.rollback()
    with pytest.raises(ActionError, match="Enter why the action is being reopened"):
        _change(world.coordinator.user, action, ActionStatus.OPEN)
    db.session.rollback()
    _change(world.coordinator.user, action, ActionStatus.OPEN, "The family were not in fact moved")
    assert action.status == ActionStatus.OPEN.value


def test_same_status_on_a_closed_action_and_unknown_status_are_refused(world: World) -> None:
    with acting_offline([world.coordinator.user, world.police_rep.user]):
        with pytest.raises(ActionError, match="already completed"):
            record_action_status(world.coordinator.user, world.earlier_done, "completed", NOTE)
        with pytest.raises(ActionError, match="Choose the action's new status"):
            record_action_status(world.police_rep.user, world.earlier_open, "finished", None)


def test_progress_report_keeps_the_status_needs_a_note_and_counts_as_reported(world: World) -> None:
    action = world.earlier_open
    with acting_offline([world.police_rep.user]):
        assert ActionStatus.OPEN in next_statuses(world.police_rep.user, action)
    with pytest.raises(ActionError, match="Enter the progress update"):
        _change(world.police_rep.user, action, ActionStatus.OPEN, " ")
    db.session.rollback()
    assert action.reported_at is None
    assert _events(action) == []

    event = _change(world.police_rep.user, action, ActionStatus.OPEN, NOTE)

    assert action.status == ActionStatus.OPEN.value
    assert action.status_changed_at is None  # the status did not change
    assert action.reported_at == event.changed_at
    assert [(e.from_status, e.to_status, e.note) for e in action_history(action)] == [("open", "open", NOTE)]
    notes = list(db.session.scalars(select(Notification).where(Notification.kind == "action_updated")))
    assert [n.user_id for n in notes] == [world.coordinator.user.id]
    assert "reported progress" in (notes[0].text or "")


def test_each_progress_report_tells_the_coordinator_again(world: World) -> None:
    _change(world.police_rep.user, world.earlier_open, ActionStatus.OPEN, NOTE)
    _change(world.police_rep.user, world.earlier_open, ActionStatus.OPEN, "Second visit made; follow-up booked")
    notes = db.session.scalars(select(Notification).where(Notification.kind == "action_updated")).all()
    assert len(notes) == 2
    sent = select(func.count()).select_from(OutboxMessage).where(OutboxMessage.kind == "action_updated")
    assert db.session.scalar(sent) == 2


def test_closed_action_offers_no_progress_report(world: World) -> None:
    with acting_offline([world.coordinator.user]):
        offered = next_statuses(world.coordinator.user, world.earlier_done)
    assert ActionStatus.COMPLETED not in offered
    assert set(offered) == {ActionStatus.OPEN, ActionStatus.IN_PROGRESS}


def test_who_may_update_an_action(world: World) -> None:
    area = world.meeting.area
    owner = make_user(Role.REFERRER, agency=world.police, areas=[area])
    colleague = make_user(Role.REFERRER, agency=world.police, areas=[area])
    housing_rep = make_user(Role.AGENCY_REP, agency=world.housing, areas=[area])
    elsewhere = make_user(Role.AGENCY_REP, agency=world.police, areas=[make_area()])
    stranger = make_user(Role.AGENCY_REP, agency=world.council, areas=[make_area()])
    action = world.earlier_open
    action.owner_id = owner.user.id
    db.session.commit()
    with acting_offline(
        [owner.user, colleague.user, housing_rep.user, elsewhere.user, stranger.user, world.chair.user]
    ):
        assert can_update_action(owner.user, action)
        assert not can_update_action(colleague.user, action)
        assert can_see_action(colleague.user, action)  # the owning agency sees its own action
        assert not can_update_action(housing_rep.user, action)
        assert not can_update_action(elsewhere.user, action)
        assert not can_see_action(stranger.user, action)
        assert not can_update_action(world.chair.user, action)
        assert can_see_action(world.chair.user, action)
    with pytest.raises(ActionError, match="Only the owning agency"):
        _change(housing_rep.user, action, ActionStatus.IN_PROGRESS)


def test_coordinators_are_told_when_an_agency_reports_progress(world: World) -> None:
    _change(world.police_rep.user, world.earlier_open, ActionStatus.COMPLETED, NOTE)
    notes = list(db.session.scalars(select(Notification).where(Notification.kind == "action_updated")))
    assert [n.user_id for n in notes] == [world.coordinator.user.id]
    assert world.cases[0].reference in (notes[0].text or "")
    assert notes[0].link == f"/actions/{world.earlier_open.public_id}"
    message = db.session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "action_updated")).one()
    assert world.cases[0].reference not in message.body + message.subject


def test_coordinator_is_not_told_about_their_own_change(world: World) -> None:
    _change(world.coordinator.user, world.earlier_open, ActionStatus.IN_PROGRESS)
    assert db.session.scalars(select(Notification)).all() == []
