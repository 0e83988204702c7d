"""Actions agreed at a meeting: who may record them, the rules on agency, owner, description and due date, and
finding the outstanding actions from earlier meetings."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from marac import db
from marac.access import Role, acting_offline
from marac.actions.models import Action, ActionStatus
from marac.actions.services import ActionError, case_actions, create_action, outstanding_actions_for_cases
from marac.audit.models import AuditEvent
from marac.orgs.models import AgencyKind
from tests.conftest import FakeClock
from tests.factories import make_agency, make_user
from tests.meetings.test_minutes import World, build_world, items, start_meeting


@pytest.fixture
def world(app: Flask) -> World:
    return build_world()


DESCRIPTION = "Police to review the bail conditions and tell the IDVA"


def _create(world: World, actor: Any = None, **overrides: Any) -> Action:
    user = actor or world.coordinator.user
    values: dict[str, Any] = {
        "item": items(world)[0],
        "agency": world.police,
        "owner": world.police_rep.user,
        "description": DESCRIPTION,
        "due_on": date(2026, 12, 10),
    }
    values.update(overrides)
    with acting_offline([user]):
        return create_action(user, **values)


def test_action_is_recorded_sealed_and_audited_without_content(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    action = _create(world)
    db.session.commit()
    assert action.status == ActionStatus.OPEN.value
    assert action.is_outstanding
    assert (action.case_id, action.meeting_id, action.agency_id) == (
        world.cases[0].id,
        world.meeting.id,
        world.police.id,
    )
    assert action.owner_id == world.police_rep.user.id
    assert action.description == DESCRIPTION
    raw = db.session.execute(select(Action.description_enc).where(Action.id == action.id)).scalar_one()
    assert b"bail" not in raw
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "action.create")).one()
    assert event.object_id == action.public_id
    assert "bail" not in str(event.details)
    assert case_actions(world.cases[0])[-1] == action


def test_owner_is_optional(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    assert _create(world, owner=None).owner_id is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("outside_agency", "is not a member agency"),
        ("owner_elsewhere", "The owner must work for"),
        ("inactive_owner", "not in use"),
        ("short", "at least 10 characters"),
        ("long", "2000 characters or fewer"),
        ("past", "cannot be before the meeting (3 December 2026)"),
        ("far", "within a year of the meeting"),
    ],
)
def test_bad_actions_are_refused_with_a_message(world: World, clock: FakeClock, change: str, message: str) -> None:
    start_meeting(clock)
    overrides: dict[str, Any] = {
        "outside_agency": {"agency": make_agency(AgencyKind.HEALTH)},
        "owner_elsewhere": {"owner": make_user(Role.AGENCY_REP, agency=world.housing).user},
        "short": {"description": "Do it"},
        "long": {"description": "x" * 2001},
        "past": {"due_on": date(2026, 12, 2)},
        "far": {"due_on": date(2027, 12, 4)},
    }.get(change, {})
    if change == "inactive_owner":
        world.police_rep.user.is_active = False
    with pytest.raises(ActionError) as refused:
        _create(world, **overrides)
    assert message in str(refused.value)
    assert db.session.scalars(select(Action).where(Action.meeting_id == world.meeting.id)).all() == []


def test_due_date_on_the_meeting_day_and_a_year_later_are_allowed(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    assert _create(world, due_on=date(2026, 12, 3)).due_on == date(2026, 12, 3)
    assert _create(world, due_on=date(2027, 12, 3)).due_on == date(2027, 12, 3)


def test_actions_only_once_the_meeting_started_and_only_by_its_coordinator(world: World, clock: FakeClock) -> None:
    with pytest.raises(ActionError, match="once the meeting has started"):
        _create(world)
    start_meeting(clock)
    with pytest.raises(ActionError, match="coordinators"):
        _create(world, actor=world.chair.user)
    with pytest.raises(ActionError, match="coordinators"):
        _create(world, actor=world.police_rep.user)


def test_outstanding_actions_are_those_from_earlier_meetings_still_open(world: World, clock: FakeClock) -> None:
    start_meeting(clock)
    this_meeting = _create(world)
    ids = [c.id for c in world.cases]
    found = outstanding_actions_for_cases(ids, world.meeting)
    assert found == {world.cases[0].id: [world.earlier_open]}  # not completed, not this meeting's
    assert outstanding_actions_for_cases(ids, world.earlier) == {}  # nothing before the earlier meeting
    world.earlier_open.status = ActionStatus.COMPLETED.value
    assert outstanding_actions_for_cases(ids, world.meeting) == {}
    assert this_meeting.is_outstanding


def test_a_repeat_victims_earlier_case_brings_its_outstanding_actions(world: World, clock: FakeClock) -> None:
    """A victim referred again is a new case; the earlier case's open actions are reviewed with it."""
    from marac.cases.models import Referral
    from tests.factories import make_case

    first = world.cases[0]
    repeat = make_case(area=first.area, agency=world.police, victim=first.victim)
    db.session.add(Referral(case_id=repeat.id, step="check", decision="accepted", decided_at=db.utcnow()))
    elsewhere = make_case(agency=world.police, victim=first.victim)  # the same victim in another area's MARAC
    db.session.commit()
    found = outstanding_actions_for_cases([repeat.id, elsewhere.id], world.meeting)
    assert found == {repeat.id: [world.earlier_open]}
