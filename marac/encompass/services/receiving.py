"""The key adult's half of a notification: the notifications they receive, opening one, and acknowledging it with
an optional note of the support offered."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import selectinload

from marac import audit, db
from marac.access import can_receive_notification, home_education_authority_ids, key_adult_setting_ids
from marac.cases.models import PartyRole
from marac.db import LONDON
from marac.encompass.models import (
    PARENT_CONTACT_LABELS,
    EncompassChild,
    EncompassNotification,
    ParentContact,
    Route,
)
from marac.people.models import Person
from marac.people.records import field_rows, name_from

#: The longest note of the support offered.
MAX_SUPPORT_NOTE = 2000
#: When a notification was sent after the acknowledge-by time, how long the key adult has to acknowledge it.
LATE_SENT_GRACE = timedelta(hours=2)
#: How many notifications the key adult's list shows.
SHOWN = 200

ALREADY_ACKNOWLEDGED = "This notification has already been acknowledged"
NOTE_TOO_LONG = f"The note of the support offered must be {MAX_SUPPORT_NOTE:,} characters or fewer"


#: The least time after the school day starts before an unacknowledged notification is escalated.
AFTER_DAY_START = timedelta(hours=1)


class ReceivingError(ValueError):
    """A refused acknowledgement; the message says why, for the user."""


def acknowledge_by_at(due_at: datetime) -> datetime:
    """The configured acknowledge-by time (local) on the day a notification is due, in UTC; never earlier than an
    hour after the school day starts (a setting starting at 10:30 has until 11:30)."""
    at: Any = current_app.config["MARAC_ENCOMPASS_ACKNOWLEDGE_BY"]
    day = due_at.astimezone(LONDON).date()
    return max(datetime.combine(day, at, tzinfo=LONDON).astimezone(UTC), due_at + AFTER_DAY_START)


def acknowledge_deadline(notification: EncompassNotification) -> datetime | None:
    """When the notification should be acknowledged by: the acknowledge-by time on its due day, or two hours after
    it was sent when it was sent after that time; None while it has not been sent."""
    if notification.sent_at is None:
        return None
    deadline = acknowledge_by_at(notification.due_at)
    return notification.sent_at + LATE_SENT_GRACE if notification.sent_at > deadline else deadline


def is_overdue_for_acknowledgement(notification: EncompassNotification, now: datetime) -> bool:
    """Whether it was not acknowledged by its deadline."""
    deadline = acknowledge_deadline(notification)
    return notification.acknowledged_at is None and deadline is not None and now >= deadline


@dataclass
class ReceivedRow:
    """One notification in the key adult's list."""

    notification: EncompassNotification
    child_name: str | None  # None once the details were removed under the retention policy
    status: str  # "New", "Opened" or "Acknowledged"
    overdue: bool


def _received_clause(user: Any) -> Any:
    """The notifications `user` receives (the same scope as `can_receive_notification`)."""
    settings, authorities = key_adult_setting_ids(user), home_education_authority_ids(user)
    return or_(
        and_(EncompassNotification.route == Route.SETTING.value, EncompassNotification.setting_id.in_(settings)),
        and_(
            EncompassNotification.route == Route.HOME_EDUCATION.value,
            EncompassNotification.local_authority_id.in_(authorities),
        ),
    )


def _status(notification: EncompassNotification) -> str:
    if notification.acknowledged_at is not None:
        return "Acknowledged"
    return "Opened" if notification.opened_at is not None else "New"


def unacknowledged_count(actor: Any) -> int:
    """How many sent notifications the key adult receives are not yet acknowledged (a count: no case data read)."""
    query = select(func.count()).where(
        _received_clause(actor),
        EncompassNotification.sent_at.is_not(None),
        EncompassNotification.acknowledged_at.is_(None),
        EncompassNotification.anonymised_at.is_(None),
    )
    return int(db.session.scalar(query) or 0)


def received_notifications(actor: Any) -> list[ReceivedRow]:
    """The notifications the key adult receives, latest due first (audited as a list, counts only)."""
    query = (
        select(EncompassNotification)
        .where(_received_clause(actor), EncompassNotification.sent_at.is_not(None))
        .options(
            selectinload(EncompassNotification.child),
            selectinload(EncompassNotification.setting),
        )
        .order_by(EncompassNotification.due_at.desc(), EncompassNotification.id.desc())
        .limit(SHOWN)
    )
    now = db.utcnow()
    rows = [
        ReceivedRow(
            notification=n,
            child_name=None if n.anonymised_at else n.child.display_name,
            status=_status(n),
            overdue=is_overdue_for_acknowledgement(n, now),
        )
        for n in db.session.scalars(query)
    ]
    audit.record(
        "encompass.notification_list",
        actor=actor,
        object_type="user",
        object_id=actor.public_id,
        details={"n": len(rows)},
    )
    return rows


def load_notification_for(actor: Any, public_id: str) -> EncompassNotification | None:
    """The notification if the actor is one of its recipients; None and an audited denial otherwise."""
    notification = db.session.scalar(select(EncompassNotification).where(EncompassNotification.public_id == public_id))
    if notification is None or notification.sent_at is None or not can_receive_notification(actor, notification):
        audit.record_denial(
            "encompass.notification_view",
            object_type="encompass_notification",
            object_id=public_id,
            reason="not_recipient",
        )
        return None
    return notification


@dataclass
class NotificationDetails:
    """Everything the key adult needs that morning (fields are None once removed under the retention policy)."""

    child_name: str | None
    date_of_birth: str | None
    police_reference: str
    occurred_at: datetime
    place: str | None
    present: bool | None
    location: str | None
    spoken_to: bool | None
    child_said: str | None
    other_adult: str | None
    circumstances: str | None
    parent_contact: str | None
    support_note: str | None


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _date_text(value: Any) -> str | None:
    return value.strftime("%-d %B %Y") if isinstance(value, date) else _text(value)


def notification_details(notification: EncompassNotification) -> NotificationDetails:
    """The notification's content, opened for its recipient."""
    child, incident = notification.child, notification.child.incident
    removed = notification.anonymised_at is not None
    setting = notification.setting
    policy = PARENT_CONTACT_LABELS[ParentContact(setting.parent_contact)] if setting else None
    return NotificationDetails(
        child_name=None if removed else child.display_name,
        date_of_birth=None if removed else _date_text(child.date_of_birth),
        police_reference=incident.police_reference,
        occurred_at=incident.occurred_at,
        place=_text(incident.place),
        present=child.present,
        location=_text(child.location),
        spoken_to=child.spoken_to,
        child_said=_text(child.child_said),
        other_adult=_text(child.other_adult),
        circumstances=_text(incident.circumstances),
        parent_contact=policy,
        support_note=_text(notification.support_note),
    )


def open_notification(actor: Any, notification: EncompassNotification) -> None:
    """Record the view (audited); the first view by a recipient marks the notification opened."""
    if notification.opened_at is None:
        notification.opened_at, notification.opened_by_id = db.utcnow(), actor.id
    audit.record(
        "encompass.notification_view",
        actor=actor,
        object_type="encompass_notification",
        object_id=notification.public_id,
    )


def acknowledge_notification(actor: Any, notification: EncompassNotification, note: str | None) -> None:
    """Acknowledge the notification with an optional note of the support offered (audited without the note);
    refused when already acknowledged or the note is too long."""
    if notification.acknowledged_at is not None:
        raise ReceivingError(ALREADY_ACKNOWLEDGED)
    note = (note or "").strip()
    if len(note) > MAX_SUPPORT_NOTE:
        raise ReceivingError(NOTE_TOO_LONG)
    now = db.utcnow()
    taken = db.session.execute(  # only the first of two at once: the second finds it acknowledged
        update(EncompassNotification)
        .where(EncompassNotification.id == notification.id, EncompassNotification.acknowledged_at.is_(None))
        .values(acknowledged_at=now, acknowledged_by_id=actor.id)
        .execution_options(synchronize_session=False)
    )
    if not getattr(taken, "rowcount", 0):
        raise ReceivingError(ALREADY_ACKNOWLEDGED)
    if notification.opened_at is None:
        notification.opened_at, notification.opened_by_id = now, actor.id
    notification.acknowledged_at, notification.acknowledged_by_id = now, actor.id
    notification.support_note = note or None
    audit.record(
        "encompass.notification_acknowledged",
        actor=actor,
        object_type="encompass_notification",
        object_id=notification.public_id,
        details={"note": bool(note)},
    )
    db.session.flush()


# --- the notifications on a MARAC case -----------------------------------------------------------------------------


@dataclass
class CaseNotificationRow:
    """One notification about a child on a MARAC case, as someone working on the case may see it."""

    notification: EncompassNotification
    child_name: str
    police_reference: str
    occurred_at: datetime
    acknowledged_by: str | None
    support_note: str | None


def household_of(view: Any) -> list[Any]:
    """The case's children and the other members of the victim's household (not the victim or perpetrators)."""
    keep = {PartyRole.CHILD.value}
    return [
        pv
        for pv in view.parties
        if pv.party.role in keep or (pv.party.is_same_household and pv.party.role == PartyRole.OTHER.value)
    ]


def notifications_for_case(actor: Any, view: Any, parts: frozenset[str] | None) -> list[CaseNotificationRow]:
    """The notifications for the case's children (matched by identity key to the children on police incidents),
    latest due first, with each child's name as the actor may see it on the case (audited, counts only)."""
    names: dict[str, str] = {}
    for pv in household_of(view):
        names.setdefault(
            pv.person.identity_key, name_from(field_rows(actor, pv.person, view.relations, pv.party.role, parts))
        )
    rows: list[CaseNotificationRow] = []
    if names:
        query = (
            select(EncompassNotification, Person.identity_key)
            .join(EncompassChild, EncompassChild.id == EncompassNotification.child_id)
            .join(Person, Person.id == EncompassChild.person_id)
            .where(Person.identity_key.in_(names))
            .options(selectinload(EncompassNotification.setting), selectinload(EncompassNotification.acknowledged_by))
            .order_by(EncompassNotification.due_at.desc(), EncompassNotification.id.desc())
        )
        for notification, key in db.session.execute(query):
            incident = notification.child.incident
            by = notification.acknowledged_by
            rows.append(
                CaseNotificationRow(
                    notification=notification,
                    child_name=names[key],
                    police_reference=incident.police_reference,
                    occurred_at=incident.occurred_at,
                    acknowledged_by=f"{by.display_name}, {by.agency.name}" if by else None,
                    support_note=_text(notification.support_note),
                )
            )
    audit.record(
        "encompass.case_view", actor=actor, object_type="case", object_id=view.case.public_id, details={"n": len(rows)}
    )
    return rows
