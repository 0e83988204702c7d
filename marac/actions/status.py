"""Reporting an action's progress: the allowed status changes, the notes they need, and the action's history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import audit, db
from marac.access import Role, can_record_not_done, can_update_action, user_area_ids
from marac.actions.models import ACTION_STATUS_LABELS, Action, ActionEvent, ActionStatus
from marac.actions.services import ActionError
from marac.auth.models import User, UserRole
from marac.notify.centre import notify_user

#: Longest status note.
MAX_NOTE = 2000
#: Statuses that need a note, and what the note must say.
NOTE_NEEDED = {
    ActionStatus.COMPLETED.value: "Enter a completion note: what was done",
    ActionStatus.NOT_POSSIBLE.value: "Enter why the action is no longer possible: what changed",
    ActionStatus.NOT_DONE.value: "Enter why the action was not done",
}
#: Where each status may go next. A closed action is reopened only by the area's coordinator (with a note).
TRANSITIONS = {
    ActionStatus.OPEN.value: frozenset(
        {ActionStatus.IN_PROGRESS, ActionStatus.COMPLETED, ActionStatus.NOT_POSSIBLE, ActionStatus.NOT_DONE}
    ),
    ActionStatus.IN_PROGRESS.value: frozenset(
        {ActionStatus.OPEN, ActionStatus.COMPLETED, ActionStatus.NOT_POSSIBLE, ActionStatus.NOT_DONE}
    ),
    ActionStatus.COMPLETED.value: frozenset({ActionStatus.OPEN, ActionStatus.IN_PROGRESS}),
    ActionStatus.NOT_POSSIBLE.value: frozenset({ActionStatus.OPEN, ActionStatus.IN_PROGRESS}),
    ActionStatus.NOT_DONE.value: frozenset({ActionStatus.OPEN, ActionStatus.IN_PROGRESS}),
}
REOPEN_NOTE = "Enter why the action is being reopened"


def next_statuses(actor: Any, action: Action) -> list[ActionStatus]:
    """The statuses this actor may move the action to, in the order the form offers them."""
    if not can_update_action(actor, action):
        return []
    allowed = TRANSITIONS[action.status]
    if not action.is_outstanding and not can_record_not_done(actor, action):
        return []  # only the area's coordinator reopens a closed action
    return [
        s
        for s in ActionStatus
        if s in allowed and (s is not ActionStatus.NOT_DONE or can_record_not_done(actor, action))
    ]


def _check_note(action: Action, to_status: str, note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise ActionError(f"The note must be {MAX_NOTE} characters or fewer")
    if not text and to_status in NOTE_NEEDED:
        raise ActionError(NOTE_NEEDED[to_status])
    if not text and not action.is_outstanding:
        raise ActionError(REOPEN_NOTE)
    return text or None


def record_action_status(actor: Any, action: Action, to_status: str, note: str | None) -> ActionEvent:
    """Move an action to a new status with its note (required to complete it, to say it is no longer possible, to
    record it was not done, and to reopen it); the change joins the action's history and the coordinators are told."""
    if not can_update_action(actor, action):
        raise ActionError("Only the owning agency's representatives, the action's owner or the coordinator update it")
    if to_status not in TRANSITIONS:
        raise ActionError("Choose the action's new status")
    if to_status == action.status:
        raise ActionError(f"The action is already {ACTION_STATUS_LABELS[ActionStatus(to_status)].lower()}")
    if ActionStatus(to_status) not in next_statuses(actor, action):
        raise ActionError(_refusal(action, to_status))
    text = _check_note(action, to_status, note)
    event = ActionEvent(
        action_id=action.id,
        from_status=action.status,
        to_status=to_status,
        changed_by_id=actor.id,
        changed_at=db.utcnow(),
    )
    event.note = text
    action.status, action.status_changed_at = to_status, event.changed_at
    action.status_note = text
    db.session.add(event)
    db.session.flush()
    audit.record(
        "action.status",
        actor=actor,
        object_type="action",
        object_id=action.public_id,
        details={"from": event.from_status, "to": to_status},
    )
    _tell_coordinators(actor, action)
    return event


def _refusal(action: Action, to_status: str) -> str:
    if to_status == ActionStatus.NOT_DONE.value:
        return "Only the MARAC coordinator records, at review, that an action was not done"
    if not action.is_outstanding:
        return "This action is closed: only the MARAC coordinator can reopen it"
    return "That status change is not allowed"


def _tell_coordinators(actor: Any, action: Action) -> None:
    """The area's coordinators hear when an agency reports progress (not about their own changes)."""
    label = ACTION_STATUS_LABELS[ActionStatus(action.status)].lower()
    text = f"Case {action.case.reference}: {action.agency.name} marked an action {label}."
    link = action_path(action)
    key = f"{action.public_id}:{action.status_changed_at.isoformat() if action.status_changed_at else ''}"
    for user in area_role_users(action.case.area_id, Role.COORDINATOR):
        if user.id != actor.id:
            notify_user(user, "action_updated", key, text, link)


def action_path(action: Action) -> str:
    """Where the action's page is (a path with no personal data; jobs have no request to build URLs from)."""
    return f"/actions/{action.public_id}"


def area_role_users(area_id: int, role: Role, agency_id: int | None = None) -> list[User]:
    """Active users holding `role` who work in the area (at `agency_id`, when given)."""
    query = (
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(UserRole.role == role.value, User.is_active.is_(True))
    )
    if agency_id is not None:
        query = query.where(User.agency_id == agency_id)
    users = db.session.scalars(query.options(selectinload(User.areas)).order_by(User.id)).unique()
    return [u for u in users if area_id in user_area_ids(u)]


def action_history(action: Action) -> list[ActionEvent]:
    """Every status change to the action, oldest first."""
    query = (
        select(ActionEvent)
        .where(ActionEvent.action_id == action.id)
        .options(selectinload(ActionEvent.changed_by))
        .order_by(ActionEvent.changed_at, ActionEvent.id)
    )
    return list(db.session.scalars(query))
