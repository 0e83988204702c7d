"""Searching the audit trail (the DPO's page); every search is itself audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import aliased

from marac import db
from marac.audit.models import AuditEvent
from marac.audit.services import record
from marac.auth.models import User
from marac.orgs.models import Agency

PAGE_SIZE = 50


@dataclass(frozen=True)
class EventFilter:
    """What the DPO asked for; empty values match everything."""

    user_email: str | None = None
    agency_public_id: str | None = None
    object_type: str | None = None
    object_id: str | None = None
    action: str | None = None
    outcome: str | None = None
    date_from: date | None = None
    date_to: date | None = None
    before_seq: int | None = None


@dataclass
class EventPage:
    """One page of matching events, newest first, with what the page needs to explain them."""

    rows: list[tuple[AuditEvent, User | None, Agency | None]] = field(default_factory=list)
    has_more: bool = False
    unknown_user: bool = False
    user_labels: dict[str, str] = field(default_factory=dict)


def _query(wanted: EventFilter) -> tuple[Any, bool]:
    actor, agency = aliased(User), aliased(Agency)
    query = (
        select(AuditEvent, actor, agency)
        .outerjoin(actor, AuditEvent.actor_user_id == actor.id)
        .outerjoin(agency, AuditEvent.agency_id == agency.id)
    )
    unknown_user = False
    if wanted.user_email:
        user_id = db.session.scalar(select(User.id).where(User.email == wanted.user_email.strip().lower()))
        unknown_user = user_id is None
        query = query.where(AuditEvent.actor_user_id == (user_id or -1))
    if wanted.agency_public_id:
        query = query.where(agency.public_id == wanted.agency_public_id)
    exact = (
        (AuditEvent.object_type, wanted.object_type),
        (AuditEvent.object_id, wanted.object_id),
        (AuditEvent.action, wanted.action),
        (AuditEvent.outcome, wanted.outcome),
    )
    for column, value in exact:
        if value:
            query = query.where(column == value.strip())
    if wanted.date_from:
        query = query.where(AuditEvent.occurred_at >= datetime.combine(wanted.date_from, time.min, UTC))
    if wanted.date_to:
        query = query.where(
            AuditEvent.occurred_at < datetime.combine(wanted.date_to, time.min, UTC) + timedelta(days=1)
        )
    if wanted.before_seq:
        query = query.where(AuditEvent.seq < wanted.before_seq)
    return query, unknown_user


def _user_labels(rows: list[tuple[AuditEvent, User | None, Agency | None]]) -> dict[str, str]:
    """Emails for the user objects on this page, so the DPO sees who an account event was about."""
    ids = {event.object_id for event, _actor, _agency in rows if event.object_type == "user" and event.object_id}
    if not ids:
        return {}
    found = db.session.execute(select(User.public_id, User.email).where(User.public_id.in_(ids)))
    return {str(public_id): str(email) for public_id, email in found.all()}


def search_events(actor: Any, wanted: EventFilter, asked_for: list[str]) -> EventPage:
    """One page of events matching `wanted`; records the search (the names of the filters used, not their values)."""
    query, unknown_user = _query(wanted)
    rows = [(e, u, a) for e, u, a in db.session.execute(query.order_by(AuditEvent.seq.desc()).limit(PAGE_SIZE + 1))]
    page = EventPage(rows=rows[:PAGE_SIZE], has_more=len(rows) > PAGE_SIZE, unknown_user=unknown_user)
    page.user_labels = _user_labels(page.rows)
    record("audit.searched", actor=actor, object_type="audit_events", details={"filters": asked_for, "valid": True})
    return page


def record_refused_search(actor: Any, asked_for: list[str]) -> None:
    """A search whose filters were not valid is still recorded."""
    record("audit.searched", actor=actor, object_type="audit_events", details={"filters": asked_for, "valid": False})
