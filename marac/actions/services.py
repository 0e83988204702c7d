"""Actions agreed at MARAC: recording one (each agency owns its actions) and finding a case's actions."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import aliased, selectinload

from marac import audit, db
from marac.access import can_manage_meeting, is_member_agency
from marac.actions.models import OUTSTANDING, Action
from marac.auth.models import User
from marac.cases.models import Case
from marac.meetings.models import AgendaItem, ItemStatus, Meeting
from marac.orgs.models import Agency
from marac.people.models import Person

#: Bounds on an action's description (a SMART action needs more than a word or two).
MIN_DESCRIPTION, MAX_DESCRIPTION = 10, 2000
#: How far after the meeting an action may be due.
LONGEST_DUE = timedelta(days=365)


class ActionError(ValueError):
    """An action the rules refuse; the message is shown to the user."""


#: Another case of the same victim (a repeat episode).
Episode = aliased(Case)


def _meeting_day(meeting: Meeting) -> date:
    return meeting.starts_at.astimezone(db.LONDON).date()


def _check_recordable(actor: Any, item: AgendaItem) -> Meeting:
    meeting = item.meeting
    if not can_manage_meeting(actor, meeting):
        raise ActionError("Only the area's coordinators record the actions agreed at a meeting")
    if meeting.is_cancelled:
        raise ActionError("This meeting was cancelled: no actions can be agreed at it")
    if item.status == ItemStatus.DEFERRED.value:
        raise ActionError(f"Case {item.case.reference} was deferred from this meeting: no actions can be agreed for it")
    if meeting.starts_at > db.utcnow():
        raise ActionError("Actions can only be recorded once the meeting has started")
    return meeting


def _check_owner(owner: User | None, agency: Agency) -> None:
    if owner is None:
        return
    if owner.agency_id != agency.id:
        raise ActionError(f"The owner must work for {agency.name}, the agency that owns the action")
    if not owner.is_active:
        raise ActionError("The owner's account is not in use: choose someone else, or leave the owner blank")


def _check_description(description: str | None) -> str:
    text = (description or "").strip()
    if len(text) < MIN_DESCRIPTION:
        raise ActionError(f"Describe the action in at least {MIN_DESCRIPTION} characters: what, who and by when")
    if len(text) > MAX_DESCRIPTION:
        raise ActionError(f"The description must be {MAX_DESCRIPTION} characters or fewer")
    return text


def _check_due(due_on: date | None, meeting: Meeting) -> date:
    held = _meeting_day(meeting)
    if due_on is None:
        raise ActionError("Enter the date the action is due")
    if due_on < held:
        raise ActionError(f"The due date cannot be before the meeting ({held:%-d %B %Y})")
    if due_on > held + LONGEST_DUE:
        raise ActionError("The due date must be within a year of the meeting")
    return due_on


def create_action(
    actor: Any, *, item: AgendaItem, agency: Agency, owner: User | None, description: str, due_on: date
) -> Action:
    """Record an action agreed for a case at a meeting: a member agency owns it (and, optionally, a person there)."""
    meeting = _check_recordable(actor, item)
    if not is_member_agency(agency.id, meeting.area):
        raise ActionError(f"{agency.name} is not a member agency of the {meeting.area.name} MARAC")
    _check_owner(owner, agency)
    text = _check_description(description)
    action = Action(
        case_id=item.case_id,
        meeting_id=meeting.id,
        agenda_item_id=item.id,
        agency_id=agency.id,
        owner_id=owner.id if owner else None,
        due_on=_check_due(due_on, meeting),
        created_by_id=actor.id,
        created_at=db.utcnow(),
    )
    action.description = text
    db.session.add(action)
    db.session.flush()
    audit.record(
        "action.create",
        actor=actor,
        object_type="action",
        object_id=action.public_id,
        details={"meeting": meeting.public_id, "case": item.case.public_id},
    )
    return action


def outstanding_actions_for_cases(case_ids: Iterable[int], before_meeting: Meeting) -> dict[int, list[Action]]:
    """Outstanding actions from earlier meetings (or agreed outside one) for these cases, by case, oldest due first.
    A repeat victim's earlier cases in the same area count: their actions are shown with the new case."""
    episodes = _same_victim_cases(list(case_ids), before_meeting.area_id)
    if not episodes:
        return {}
    query = (
        select(Action)
        .outerjoin(Meeting, Meeting.id == Action.meeting_id)
        .where(
            Action.case_id.in_(episodes),
            Action.status.in_(OUTSTANDING),
            or_(Action.meeting_id.is_(None), Meeting.starts_at < before_meeting.starts_at),
        )
        .options(selectinload(Action.agency), selectinload(Action.owner), selectinload(Action.case))
        .order_by(Action.due_on, Action.id)
    )
    found: dict[int, list[Action]] = {}
    for action in db.session.scalars(query):
        if action.meeting_id != before_meeting.id:
            found.setdefault(episodes[action.case_id], []).append(action)
    return found


def _same_victim_cases(case_ids: list[int], area_id: int) -> dict[int, int]:
    """Each case in the area whose victim is one of these cases' victims (linked records included), mapped to the
    case it belongs with."""
    if not case_ids:
        return {}
    identity = aliased(Person)
    rows = db.session.execute(
        select(Case.id, Episode.id)
        .join(Person, Person.id == Case.victim_id)
        .join(identity, identity.identity_key == Person.identity_key)
        .join(Episode, Episode.victim_id == identity.id)
        .where(Case.id.in_(case_ids), Episode.area_id == area_id)
    )
    found = {case_id: case_id for case_id in case_ids}
    for case_id, episode_id in rows:
        found.setdefault(episode_id, case_id)
    return found


def case_actions(case: Case) -> list[Action]:
    """Every action on a case, in the order they were agreed."""
    query = (
        select(Action)
        .where(Action.case_id == case.id)
        .options(selectinload(Action.agency), selectinload(Action.owner))
        .order_by(Action.created_at, Action.id)
    )
    return list(db.session.scalars(query))


def agency_owners(agencies: Iterable[Agency]) -> list[User]:
    """Active users of these agencies who may be named as an action's owner, by agency then name."""
    ids = [a.id for a in agencies]
    if not ids:
        return []
    query = select(User).where(User.agency_id.in_(ids), User.is_active.is_(True)).order_by(User.display_name)
    return sorted(db.session.scalars(query), key=lambda u: (u.agency.name, u.display_name))
