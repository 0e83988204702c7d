"""Escalating notifications nobody acknowledged: first to the setting's second key adult, then to the local
authority's Operation Encompass leads; and chasing unresolved ones (no setting to send to) with the leads once they
are overdue, then daily. The job reads the truth from the notifications themselves, so running it twice, or late,
sends nothing twice."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from marac import audit, db
from marac.access import Role
from marac.auth.models import User, UserRole
from marac.encompass.models import EducationSetting, EncompassChild, EncompassNotification, KeyAdult, Route
from marac.encompass.services.delivery import unresolved_leads
from marac.encompass.services.receiving import acknowledge_deadline
from marac.notify.centre import notify_user

#: How long after telling the second key adult the local authority's leads are told, if still unacknowledged.
LEVEL_TWO_AFTER = timedelta(hours=2)
#: The notification-centre kind for escalations (its email subject lives in marac.notify.services).
KIND = "encompass_escalation"
#: The kind for the reminder that an unresolved notification became overdue (texted too).
OVERDUE_KIND = "encompass_unresolved_overdue"
#: The kind for the daily reminders after that (email and notification centre only: a lead must not get a text a
#: day for each of many unresolved notifications, and miss the one that matters).
DAILY_KIND = "encompass_unresolved_daily"
#: How far back the job looks (older unacknowledged notifications were escalated by earlier runs).
LOOK_BACK = timedelta(days=14)


def _key_adults(notification: EncompassNotification, rank: int) -> list[User]:
    """The setting's briefed, active key adults of `rank` who hold the role and still work for its agency."""
    query = (
        select(User)
        .join(KeyAdult, KeyAdult.user_id == User.id)
        .join(EducationSetting, EducationSetting.id == KeyAdult.setting_id)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            KeyAdult.setting_id == notification.setting_id,
            KeyAdult.rank == rank,
            KeyAdult.briefed_on.is_not(None),
            EducationSetting.agency_id == User.agency_id,
            UserRole.role == Role.KEY_ADULT.value,
            User.is_active.is_(True),
        )
        .order_by(User.id)
    )
    return list(db.session.scalars(query))


def _second_key_adults(notification: EncompassNotification) -> list[User]:
    """The second key adults to tell: none when there is no briefed first key adult (the notification then went to
    the second ones already, so the leads come next)."""
    if not _key_adults(notification, 1):
        return []
    return _key_adults(notification, 2)


def _authority_id(notification: EncompassNotification) -> int | None:
    if notification.local_authority_id is not None:
        return notification.local_authority_id
    return notification.setting.local_authority_id if notification.setting else None


def authority_leads(local_authority_id: int | None) -> list[User]:
    """The active Encompass leads working for the local authority."""
    if local_authority_id is None:
        return []
    query = (
        select(User)
        .join(UserRole, UserRole.user_id == User.id)
        .where(
            UserRole.role == Role.ENCOMPASS_LEAD.value,
            User.agency_id == local_authority_id,
            User.is_active.is_(True),
        )
        .order_by(User.id)
    )
    return list(db.session.scalars(query).unique())


def _where(notification: EncompassNotification) -> str:
    return notification.setting.name if notification.setting else "a child in elective home education"


def _tell(notification: EncompassNotification, level: int, users: list[User], link: str) -> None:
    """Notify `users` (no child's name in the text) and mark the notification escalated to `level`."""
    due = notification.due_at.astimezone(db.LONDON).strftime("%-d %B %Y, %H:%M")
    text = (
        f"An Operation Encompass notification for {_where(notification)}, due {due}, has not been acknowledged."
        if level == 1
        else f"An Operation Encompass notification for {_where(notification)}, due {due}, is still not "
        "acknowledged by the key adults."
    )
    # the sending in the key: a notification moved to the right setting is escalated again from the start
    sent = notification.sent_at.isoformat() if notification.sent_at is not None else ""
    key = f"{notification.public_id}:{sent}:{level}"
    told = sum(notify_user(user, KIND, key, text, link) is not None for user in users)
    notification.escalation_level, notification.escalated_at = level, db.utcnow()
    audit.record(
        "encompass.escalated",
        object_type="encompass_notification",
        object_id=notification.public_id,
        details={"level": level, "recipients": told},
    )


def _to_leads(notification: EncompassNotification) -> None:
    _tell(notification, 2, authority_leads(_authority_id(notification)), "/encompass/monitoring")


def escalate_notification(notification: EncompassNotification, now: datetime) -> bool:
    """Take one notification to the next escalation level when it is due; whether anything changed."""
    deadline = acknowledge_deadline(notification)
    if deadline is None or now < deadline or notification.acknowledged_at is not None:
        return False
    if notification.escalation_level == 1:
        if notification.escalated_at is not None and now < notification.escalated_at + LEVEL_TWO_AFTER:
            return False
        _to_leads(notification)
        return True
    if notification.route == Route.HOME_EDUCATION.value:
        _to_leads(notification)
        return True
    second = _second_key_adults(notification)
    if not second:
        _to_leads(notification)
        return True
    _tell(notification, 1, second, f"/encompass/notifications/{notification.public_id}")
    return True


def _candidates(now: datetime) -> Any:
    """Sent, unacknowledged, not fully escalated notifications to a setting or to children's social care."""
    return (
        select(EncompassNotification)
        .where(
            EncompassNotification.route.in_([Route.SETTING.value, Route.HOME_EDUCATION.value]),
            EncompassNotification.sent_at.is_not(None),
            EncompassNotification.acknowledged_at.is_(None),
            EncompassNotification.anonymised_at.is_(None),
            EncompassNotification.escalation_level < 2,
            EncompassNotification.due_at <= now + timedelta(days=1),
            # sent late (resolved or imported weeks after the incident) still counts from when it was sent
            or_(EncompassNotification.due_at >= now - LOOK_BACK, EncompassNotification.sent_at >= now - LOOK_BACK),
        )
        .options(selectinload(EncompassNotification.setting))
        .order_by(EncompassNotification.due_at, EncompassNotification.id)
    )


def escalate_unacknowledged() -> int:
    """Escalate every notification not acknowledged in time: a setting's goes to its second key adults (or, with
    none, to the local authority's Encompass leads at once), then to the leads `LEVEL_TWO_AFTER` later; a home
    education one goes straight to the leads. Then chase the overdue unresolved ones (`chase_unresolved`). Commits
    per notification; returns how many were escalated or chased."""
    now = db.utcnow()
    escalated = 0
    for notification in db.session.scalars(_candidates(now)).all():
        if escalate_notification(notification, now):
            db.session.commit()
            escalated += 1
    return escalated + chase_unresolved(now)


# --- unresolved notifications: nobody to send to until a lead or the force names the setting -----------------------

#: What the leads read in the notification centre: nothing about the child, the incident or the place.
OVERDUE_TEXT = (
    "An Operation Encompass notification is overdue: it still needs its setting named before it can be sent. "
    "Sign in to resolve it."
)


def latest_reminder(due_at: datetime, now: datetime) -> tuple[int, datetime] | None:
    """The most recent reminder due by `now` for an unresolved notification due at `due_at`: (days after the due
    day, when), at the due time of day in Europe/London each day; None before it is due."""
    due = due_at.astimezone(db.LONDON)
    days = (now.astimezone(db.LONDON).date() - due.date()).days
    while days >= 0:
        at = datetime.combine(due.date() + timedelta(days=days), due.time(), tzinfo=db.LONDON)
        if at <= now:
            return days, at
        days -= 1
    return None


def _reminder_key(notification: EncompassNotification, days: int, day: date) -> str:
    """The notify key: the first reminder's, then one per day (so notify_user sends each exactly once)."""
    return f"{notification.public_id}:overdue" if days == 0 else f"{notification.public_id}:overdue:{day.isoformat()}"


def chase_notification(notification: EncompassNotification, now: datetime) -> bool:
    """Tell the leads of the notification's authority and recording force (again) that it is still unresolved
    past its due time, at most once a day; whether a reminder was due (recorded even with no lead to tell).
    `escalated_at` holds the last reminder's time (an unresolved notification has no escalation level, so the
    acknowledgement escalation never reads it)."""
    latest = latest_reminder(notification.due_at, now)
    if latest is None:
        return False
    days, at = latest
    if notification.escalated_at is not None and notification.escalated_at >= at:
        return False  # already reminded today
    if at < notification.created_at:
        return False  # recorded after this reminder's time: the leads were told at intake, the next day's follows
    key = _reminder_key(notification, days, at.date())
    link = f"/encompass/unresolved/{notification.public_id}"
    leads = unresolved_leads(notification, notification.child.incident)
    kind = OVERDUE_KIND if days == 0 else DAILY_KIND
    told = sum(notify_user(u, kind, key, OVERDUE_TEXT, link) is not None for u in leads)
    notification.escalated_at = now
    audit.record(
        "encompass.escalated",
        object_type="encompass_notification",
        object_id=notification.public_id,
        details={"unresolved_day": days, "recipients": told},
    )
    return True


def _overdue_unresolved(now: datetime) -> Any:
    """Unresolved notifications past their due time whose content is still held, however old: a child whose setting
    was never told stays on the leads' list every day until it is resolved (or retention removes it)."""
    return (
        select(EncompassNotification)
        .where(
            EncompassNotification.route == Route.UNRESOLVED.value,
            EncompassNotification.anonymised_at.is_(None),
            EncompassNotification.due_at <= now,
            # reminded a day ago or more (a London day may be 23 hours): nothing else can be due
            or_(
                EncompassNotification.escalated_at.is_(None),
                EncompassNotification.escalated_at <= now - timedelta(hours=22),
            ),
        )
        .options(selectinload(EncompassNotification.child).selectinload(EncompassChild.incident))
        .order_by(EncompassNotification.due_at, EncompassNotification.id)
    )


def chase_unresolved(now: datetime | None = None) -> int:
    """Remind the leads about every unresolved notification past its due time: when it becomes overdue, then each
    following day at the same time while it stays unresolved. Commits per notification;
    returns how many reminders were due."""
    now = now or db.utcnow()
    chased = 0
    for notification in db.session.scalars(_overdue_unresolved(now)).all():
        if chase_notification(notification, now):
            db.session.commit()
            chased += 1
    return chased
