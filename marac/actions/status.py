"""Reporting an action's progress: the allowed status changes, the notes they need, and the action's history."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from marac import audit, db
from marac.access import Role, can_record_not_done, can_update_action
from marac.actions.models import ACTION_STATUS_LABELS, Action, ActionEvent, ActionStatus
from marac.actions.services import ActionError
from marac.auth.directory import area_role_users
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
PROGRESS_NOTE = "Enter the progress update: what has been done since the last update"


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
        if (s in allowed or (s.value == action.status and action.is_outstanding))
        and (s is not ActionStatus.NOT_DONE or can_record_not_done(actor, action))
    ]


def is_progress_update(action: Action, to_status: str) -> bool:
    """Whether choosing `to_status` keeps the status and reports progress (an outstanding action only)."""
    return to_status == action.status and action.is_outstanding


def _check_note(action: Action, to_status: str, note: str | None) -> str | None:
    text = (note or "").strip()
    if len(text) > MAX_NOTE:
        raise ActionError(f"The note must be {MAX_NOTE} characters or fewer")
    if not text and is_progress_update(action, to_status):
        raise ActionError(PROGRESS_NOTE)
    if not text and to_status in NOTE_NEEDED:
        raise ActionError(NOTE_NEEDED[to_status])
    if not text and not action.is_outstanding:
        raise ActionError(REOPEN_NOTE)
    return text or None


def record_action_status(actor: Any, action: Action, to_status: str, note: str | None) -> ActionEvent:
    """Move an action to a new status with its note (required to complete it, to say it is no longer possible, to
    record it was not done, and to reopen it), or keep an outstanding action's status and report progress (a note is
    required); the change joins the action's history, counts as the agency's latest report, and the coordinators are
    told."""
    if not can_update_action(actor, action):
        raise ActionError("Only the owning agency's representatives, the action's owner or the coordinator update it")
    if to_status not in TRANSITIONS:
        raise ActionError("Choose the action's new status")
    if to_status == action.status and not action.is_outstanding:
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
    if to_status != action.status:
        action.status, action.status_changed_at = to_status, event.changed_at
    action.reported_at = event.changed_at
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
    _tell_coordinators(actor, action, event)
    return event


def _refusal(action: Action, to_status: str) -> str:
    if to_status == ActionStatus.NOT_DONE.value:
        return "Only the MARAC coordinator records, at review, that an action was not done"
    if not action.is_outstanding:
        return "This action is closed: only the MARAC coordinator can reopen it"
    return "That status change is not allowed"


def _tell_coordinators(actor: Any, action: Action, event: ActionEvent) -> None:
    """The area's coordinators hear when an agency reports progress (not about their own changes)."""
    label = ACTION_STATUS_LABELS[ActionStatus(action.status)].lower()
    text = f"Case {action.case.reference}: {action.agency.name} marked an action {label}."
    if event.from_status == event.to_status:
        text = f"Case {action.case.reference}: {action.agency.name} reported progress on an action ({label})."
    link = action_path(action)
    key = f"{action.public_id}:{event.public_id}"
    for user in area_role_users(action.case.area_id, Role.COORDINATOR):
        if user.id != actor.id:
            notify_user(user, "action_updated", key, text, link)


def action_path(action: Action) -> str:
    """Where the action's page is (a path with no personal data; jobs have no request to build URLs from)."""
    return f"/actions/{action.public_id}"


def action_history(action: Action) -> list[ActionEvent]:
    """Every status change to the action, oldest first."""
    query = (
        select(ActionEvent)
        .where(ActionEvent.action_id == action.id)
        .options(selectinload(ActionEvent.changed_by))
        .order_by(ActionEvent.changed_at, ActionEvent.id)
    )
    return list(db.session.scalars(query))
