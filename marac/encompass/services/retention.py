"""Retention: once an incident is older than the retention period, its notifications' content is removed (the
child's location, what they said, the other adult, the incident's place and circumstances, the support note, and
the reasons given for correcting the incident). The rows keep their dates and statuses, so monitoring still counts
them; the correction history keeps its kinds, dates, field names and settings."""

from __future__ import annotations

from datetime import timedelta

from flask import current_app
from sqlalchemy import select, update

from marac import audit, db
from marac.encompass.models import EncompassChild, EncompassCorrection, EncompassNotification, PoliceIncident

#: How many notifications one transaction anonymises.
BATCH = 500


def _expired_batch(cutoff: object) -> list[tuple[int, int, int]]:
    """(notification, child, incident) ids of a batch of notifications still holding content past the cutoff."""
    query = (
        select(EncompassNotification.id, EncompassChild.id, PoliceIncident.id)
        .join(EncompassChild, EncompassChild.id == EncompassNotification.child_id)
        .join(PoliceIncident, PoliceIncident.id == EncompassChild.incident_id)
        .where(PoliceIncident.occurred_at < cutoff, EncompassNotification.anonymised_at.is_(None))
        .order_by(EncompassNotification.id)
        .limit(BATCH)
    )
    return [(a, b, c) for a, b, c in db.session.execute(query)]


def _clear(rows: list[tuple[int, int, int]]) -> None:
    """Remove the sealed content of these notifications, their children and incidents, and the reasons for the
    incidents' corrections (nulls, not ciphertext)."""
    now = db.utcnow()
    notification_ids = [r[0] for r in rows]
    child_ids = sorted({r[1] for r in rows})
    incident_ids = sorted({r[2] for r in rows})
    db.session.execute(
        update(EncompassNotification)
        .where(EncompassNotification.id.in_(notification_ids))
        .values(support_note_enc=None, anonymised_at=now)
    )
    db.session.execute(
        update(EncompassChild)
        .where(EncompassChild.id.in_(child_ids))
        .values(
            given_name_enc=None,
            family_name_enc=None,
            date_of_birth_enc=None,
            location_enc=None,
            child_said_enc=None,
            other_adult_enc=None,
        )
    )
    db.session.execute(
        update(PoliceIncident).where(PoliceIncident.id.in_(incident_ids)).values(place_enc=None, circumstances_enc=None)
    )
    db.session.execute(
        update(EncompassCorrection).where(EncompassCorrection.incident_id.in_(incident_ids)).values(reason_enc=None)
    )


def anonymise_expired() -> int:
    """Remove the content of every notification whose incident is older than MARAC_ENCOMPASS_RETENTION_DAYS, in
    batches (one commit each, audited with counts); how many were anonymised. Running it again changes nothing."""
    days = int(current_app.config["MARAC_ENCOMPASS_RETENTION_DAYS"])
    cutoff = db.utcnow() - timedelta(days=days)
    total = 0
    while rows := _expired_batch(cutoff):
        _clear(rows)
        audit.record(
            "encompass.anonymised",
            object_type="encompass_notifications",
            object_id=None,
            details={"notifications": len(rows), "incidents": len({r[2] for r in rows}), "retention_days": days},
        )
        db.session.commit()
        db.session.expire_all()
        total += len(rows)
    return total
