"""Action jobs: reminders before an action is due, escalation once it is well overdue, and asking agencies to report
progress before the next meeting. Each commits per action (or per meeting), so a failure loses nothing sent."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.orm import selectinload

from marac import db
from marac.access import Role
from marac.actions.models import OUTSTANDING, Action
from marac.actions.status import action_path
from marac.auth.directory import area_role_users, unique_users
from marac.auth.models import User
from marac.notify.chase import Chase, escalation_cutoff, reminder_horizon, send_chase


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
    horizon = reminder_horizon(today, "MARAC_ACTION_REMINDER_WORKING_DAYS")
    query = _outstanding().where(Action.due_on >= today, Action.due_on <= horizon, Action.reminded_on.is_(None))
    reminded = 0
    for action in db.session.scalars(query).all():
        owner = action.owner if action.owner is not None and action.owner.is_active else None
        send_chase(
            Chase(
                kind="action_reminder",
                key=f"{action.public_id}:{action.due_on.isoformat()}",
                text=f"Case {action.case.reference}: an action for {action.agency.name} is due on "
                f"{action.due_on:%-d %B %Y}.",
                link=action_path(action),
                recipients=[owner] if owner else _representatives(action),
                audit_action="action.reminded",
                object_type="action",
                object_id=action.public_id,
                case=action.case,
            )
        )
        action.reminded_on = today
        db.session.commit()
        reminded += 1
    return reminded


def _escalation_recipients(action: Action) -> list[User]:
    """The agency's representatives and their supervisors; the area's coordinators when the agency has neither."""
    area = action.case.area_id
    found = unique_users(_representatives(action), area_role_users(area, Role.SUPERVISOR, action.agency_id))
    return found or area_role_users(area, Role.COORDINATOR)


def escalate_overdue_actions() -> int:
    """Tell the owning agency's MARAC representatives and their supervisors, once, about each outstanding action
    overdue by at least the configured number of days; how many actions were escalated."""
    today = db.london_today()
    latest_due = escalation_cutoff(today, "MARAC_ACTION_ESCALATION_DAYS")
    query = _outstanding().where(Action.due_on <= latest_due, Action.escalated_at.is_(None))
    escalated = 0
    for action in db.session.scalars(query).all():
        days = (today - action.due_on).days
        send_chase(
            Chase(
                kind="action_overdue_escalation",
                key=action.public_id,
                text=f"Case {action.case.reference}: an action for {action.agency.name} is {days} days overdue.",
                link=action_path(action),
                recipients=_escalation_recipients(action),
                audit_action="action.escalated",
                object_type="action",
                object_id=action.public_id,
                case=action.case,
            )
        )
        action.escalated_at = db.utcnow()
        db.session.commit()
        escalated += 1
    return escalated
