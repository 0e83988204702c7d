"""What officers and leads see of recorded incidents: the force's recent incidents with each notification's status,
one incident (with its correction history) for the force that recorded it, and the queue of notifications waiting
for their setting."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import selectinload

from marac import db
from marac.access import can_monitor, can_record_incidents, can_resolve_notification, managed_authority_ids
from marac.encompass.calendar import LONDON
from marac.encompass.models import (
    CorrectionKind,
    EncompassChild,
    EncompassCorrection,
    EncompassNotification,
    PoliceIncident,
    Route,
)
from marac.encompass.services.delivery import unresolved_reason
from marac.people.models import age_on

RECENT_DAYS = 30
STATUS_LABELS = {
    "acknowledged": "Acknowledged",
    "late": "Sent late",
    "sent": "Sent",
    "unresolved": "Unresolved",
}


def notification_status(notification: EncompassNotification) -> str:
    """acknowledged, unresolved, late (sent after its due time) or sent."""
    if notification.acknowledged_at is not None:
        return "acknowledged"
    if notification.route == Route.UNRESOLVED.value or notification.sent_at is None:
        return "unresolved"
    return "late" if notification.is_late else "sent"


def notifications_of(incident_ids: list[int]) -> dict[int, list[EncompassNotification]]:
    """Each incident's notifications, in the order its children were recorded."""
    found: dict[int, list[EncompassNotification]] = {i: [] for i in incident_ids}
    if not incident_ids:
        return found
    query = (
        select(EncompassNotification, EncompassChild.incident_id)
        .join(EncompassChild, EncompassChild.id == EncompassNotification.child_id)
        .where(EncompassChild.incident_id.in_(incident_ids))
        .order_by(EncompassChild.id, EncompassNotification.id)
    )
    for notification, incident_id in db.session.execute(query):
        found[incident_id].append(notification)
    return found


@dataclass
class IncidentRow:
    """One incident in the force's list (no child names)."""

    incident: PoliceIncident
    children: int
    statuses: list[str]


def force_incidents(actor: Any, days: int = RECENT_DAYS) -> list[IncidentRow]:
    """The officer's force's incidents recorded in the last `days` days, newest first."""
    if not can_record_incidents(actor):
        return []
    since = db.utcnow() - timedelta(days=days)
    query = (
        select(PoliceIncident)
        .where(PoliceIncident.police_agency_id == actor.agency_id, PoliceIncident.recorded_at >= since)
        .order_by(PoliceIncident.occurred_at.desc(), PoliceIncident.id.desc())
    )
    incidents = list(db.session.scalars(query))
    by_incident = notifications_of([i.id for i in incidents])
    rows = []
    for incident in incidents:
        notes = by_incident[incident.id]
        children = len({n.child_id for n in notes})
        rows.append(IncidentRow(incident, children, [notification_status(n) for n in notes]))
    return rows


def load_incident_for(actor: Any, public_id: str) -> PoliceIncident | None:
    """The incident if the actor is an officer of the force that recorded it."""
    incident = db.session.scalar(select(PoliceIncident).where(PoliceIncident.public_id == public_id))
    if incident is None or not can_record_incidents(actor) or incident.police_agency_id != actor.agency_id:
        return None
    return incident


@dataclass
class UnresolvedRow:
    """One notification waiting for its setting."""

    notification: EncompassNotification
    initials: str
    age: int | None
    reason: str
    overdue: str | None  # how overdue, None while not yet due


def _initials(person: Any) -> str:
    names = [person.given_name, person.family_name]
    return "".join(n.strip()[0].upper() for n in names if isinstance(n, str) and n.strip())


def overdue_by(due_at: datetime, now: datetime) -> str | None:
    """ "3 hours" or "2 days" past due, None while not yet due."""
    if now <= due_at:
        return None
    hours = int((now - due_at).total_seconds() // 3600)
    if hours < 1:
        return "less than an hour"
    if hours < 48:
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{hours // 24} days"


def _unresolved_query(actor: Any) -> Any:
    """Unresolved notifications the actor may resolve: their authorities' (leads) or their force's (officers)."""
    query = (
        select(EncompassNotification)
        .join(EncompassChild, EncompassChild.id == EncompassNotification.child_id)
        .join(PoliceIncident, PoliceIncident.id == EncompassChild.incident_id)
        .where(EncompassNotification.route == Route.UNRESOLVED.value, EncompassNotification.anonymised_at.is_(None))
        .options(selectinload(EncompassNotification.child))
    )
    scopes = []
    if can_monitor(actor):
        managed = managed_authority_ids(actor)
        scopes.append(
            EncompassNotification.local_authority_id.is_not(None)
            if managed is None
            else EncompassNotification.local_authority_id.in_(sorted(managed))
        )
    if can_record_incidents(actor):
        scopes.append(PoliceIncident.police_agency_id == actor.agency_id)
    return query.where(or_(*scopes)) if scopes else None


def unresolved_for(actor: Any) -> list[UnresolvedRow]:
    """The queue: unresolved notifications the actor may resolve, most overdue first."""
    query = _unresolved_query(actor)
    if query is None:
        return []
    return [unresolved_row(n) for n in db.session.scalars(query.order_by(EncompassNotification.due_at))]


def unresolved_row(notification: EncompassNotification) -> UnresolvedRow:
    """What the queue shows of one notification: the child's initials and age, never their name."""
    person = notification.child  # the name and date of birth as the police gave them
    born = person.date_of_birth
    age = age_on(born if isinstance(born, date) else None, db.london_today())
    reason, overdue = unresolved_reason(notification), overdue_by(notification.due_at, db.utcnow())
    return UnresolvedRow(notification, _initials(person), age, reason, overdue)


def load_unresolved_for(actor: Any, public_id: str) -> EncompassNotification | None:
    """One unresolved notification the actor may resolve."""
    query = select(EncompassNotification).where(EncompassNotification.public_id == public_id)
    notification = db.session.scalar(query)
    if notification is None or not can_resolve_notification(actor, notification):
        return None
    return notification


def incident_day(incident: PoliceIncident) -> date:
    """The incident's date in Europe/London."""
    return incident.occurred_at.astimezone(LONDON).date()


#: The corrected fields' names in plain English (a name not listed is shown as it is stored).
FIELD_LABELS = {
    "place": "Place",
    "circumstances": "Circumstances",
    "child.given_name": "Child's given name",
    "child.family_name": "Child's family name",
    "child.date_of_birth": "Child's date of birth",
    "child.present": "Whether the child was present",
    "child.location": "Where the child was",
    "child.spoken_to": "Whether the child was spoken to",
    "child.child_said": "What the child said",
    "child.other_adult": "Another adult present",
}


@dataclass
class CorrectionRow:
    """One correction in an incident's history: when, who, what changed (labels, never values) and why."""

    correction: EncompassCorrection
    what: str
    reason: str | None  # None once removed under the retention policy


def _what(correction: EncompassCorrection) -> str:
    if correction.kind == CorrectionKind.REDIRECT.value:
        before, after = correction.from_setting, correction.to_setting
        old = before.name if before is not None else "children's social care"
        return f"Moved from {old} to {after.name if after is not None else 'another setting'}"
    return ", ".join(FIELD_LABELS.get(name, name) for name in correction.fields or [])


def correction_history(incident: PoliceIncident) -> list[CorrectionRow]:
    """The incident's corrections, oldest first, for officers of the force that recorded it."""
    query = (
        select(EncompassCorrection)
        .where(EncompassCorrection.incident_id == incident.id)
        .options(
            selectinload(EncompassCorrection.made_by),
            selectinload(EncompassCorrection.agency),
            selectinload(EncompassCorrection.from_setting),
            selectinload(EncompassCorrection.to_setting),
        )
        .order_by(EncompassCorrection.made_at, EncompassCorrection.id)
    )
    rows = []
    for correction in db.session.scalars(query):
        reason = correction.reason
        rows.append(CorrectionRow(correction, _what(correction), str(reason) if reason is not None else None))
    return rows
