"""Lists of actions: an agency's own ("our actions"), a meeting's action plan, with overdue flags."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import db
from marac.access import user_area_ids, visible_actions
from marac.actions.models import OUTSTANDING, Action, ActionStatus
from marac.actions.updates import actions_for_meeting
from marac.cases.models import Case
from marac.meetings.models import Meeting


@dataclass(frozen=True)
class ActionRow:
    """An action in a list, with whether it is overdue."""

    action: Action
    is_overdue: bool


def is_overdue(action: Action, today: date | None = None) -> bool:
    """Whether the action is still outstanding after its due date."""
    return action.is_outstanding and action.due_on < (today or db.london_today())


def _rows(actions: list[Action]) -> list[ActionRow]:
    today = db.london_today()
    return [ActionRow(a, is_overdue(a, today)) for a in actions]


def _loaded(query: Any) -> Any:
    return query.options(selectinload(Action.agency), selectinload(Action.owner), selectinload(Action.case))


def agency_actions(actor: Any, status: str | None = None, meeting: Meeting | None = None) -> list[ActionRow]:
    """The actor's agency's actions in the areas they work in: outstanding first (soonest due first), then the rest
    (most recently due first); only one status when `status` is given; only those the `meeting` will look at (its
    cases' outstanding actions from earlier meetings) when it is given."""
    areas = user_area_ids(actor)
    if not areas:
        return []
    query = _loaded(
        select(Action)
        .join(Case, Case.id == Action.case_id)
        .where(Action.agency_id == actor.agency_id, Case.area_id.in_(areas))
    )
    if meeting is not None:
        query = query.where(Action.id.in_([a.id for a in actions_for_meeting(meeting, actor.agency_id)]))
    if status in {s.value for s in ActionStatus}:
        query = query.where(Action.status == status)
    actions = visible_actions(actor, list(db.session.scalars(query)))
    outstanding = sorted((a for a in actions if a.status in OUTSTANDING), key=lambda a: (a.due_on, a.id))
    closed = sorted((a for a in actions if a.status not in OUTSTANDING), key=lambda a: (a.due_on, a.id), reverse=True)
    return _rows(outstanding + closed)


def meeting_action_plan(actor: Any, meeting: Meeting) -> list[ActionRow]:
    """The actions agreed at the meeting that the actor may see, by case reference then due date."""
    query = _loaded(select(Action).where(Action.meeting_id == meeting.id))
    actions = visible_actions(actor, list(db.session.scalars(query)))
    return _rows(sorted(actions, key=lambda a: (a.case.reference, a.due_on, a.id)))
