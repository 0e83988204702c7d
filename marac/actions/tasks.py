"""Action jobs: reminders before an action is due, and escalation once it is well overdue. Each commits per action."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from marac import audit, db
from marac.access import Role
from marac.actions.models import OUTSTANDING, Action
from marac.actions.status import action_path, area_role_users
from marac.auth.models import User
from marac.cases.overdue import add_working_days
from marac.notify.centre import notify_user


def _outstanding() -> Select[Action]:
    return (
        select(Action)
        .where(Action.status.in_(OUTSTANDING))
        .options(selectinload(Action.case), selectinload(Action.agency), selectinload(Action.owner))
        .order_by(Action.due_on, Action.id)
    )


def _representatives(action: Action) -> list[User]:
    """The owning agency's MARAC representatives who work in the case's area."""
    return area_role_users(action.case.area_id, Role.AGENCY_REP, action.agency_id)


def send_action_reminders() -> int:
    """Remind each outstanding action's owner (or, with no owner, the agency's representatives) once, when it falls
    due within the configured number of working days; how many actions were reminded."""
    today = db.london_today()
    horizon = add_working_days(today, current_app.config["MARAC_ACTION_REMINDER_WORKING_DAYS"])
    query = _outstanding().where(Action.due_on >= today, Action.due_on <= horizon, Action.reminded_on.is_(None))
    reminded = 0
    for action in db.session.scalars(query).all():
        owner = action.owner if action.owner is not None and action.owner.is_active else None
        recipients = [owner] if owner else _representatives(action)
        text = f"Case {action.case.reference}: an action for {action.agency.name} is due on {action.due_on:%-d %B %Y}."
        for user in recipients:
            notify_user(
                user, "action_reminder", f"{action.public_id}:{action.due_on.isoformat()}", text, action_path(action)
            )
        action.reminded_on = today
        audit.record(
            "action.reminded", object_type="action", object_id=action.public_id, details={"to": len(recipients)}
        )
        db.session.commit()
        reminded += 1
    return reminded


def _escalation_recipients(action: Action) -> list[User]:
    """The agency's representatives and their supervisors; the area's coordinators when the agency has neither."""
    found = {u.id: u for u in _representatives(action)}
    found.update({u.id: u for u in area_role_users(action.case.area_id, Role.SUPERVISOR, action.agency_id)})
    if not found:
        found = {u.id: u for u in area_role_users(action.case.area_id, Role.COORDINATOR)}
    return list(found.values())


def escalate_overdue_actions() -> int:
    """Tell the owning agency's MARAC representatives and their supervisors, once, about each outstanding action
    overdue by at least the configured number of days; how many actions were escalated."""
    today = db.london_today()
    latest_due = today - timedelta(days=current_app.config["MARAC_ACTION_ESCALATION_DAYS"])
    query = _outstanding().where(Action.due_on <= latest_due, Action.escalated_at.is_(None))
    escalated = 0
    for action in db.session.scalars(query).all():
        recipients = _escalation_recipients(action)
        days = (today - action.due_on).days
        text = f"Case {action.case.reference}: an action for {action.agency.name} is {days} days overdue."
        for user in recipients:
            notify_user(user, "action_overdue_escalation", action.public_id, text, action_path(action))
        action.escalated_at = db.utcnow()
        audit.record(
            "action.escalated", object_type="action", object_id=action.public_id, details={"to": len(recipients)}
        )
        db.session.commit()
        escalated += 1
    return escalated
