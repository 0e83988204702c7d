"""The DPO's view of the audit trail."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any

from flask import Blueprint, abort, render_template, request
from sqlalchemy import select
from sqlalchemy.orm import aliased

from marac import audit, db
from marac.access import Permission, require
from marac.audit.forms import AuditFilterForm
from marac.audit.models import AuditEvent
from marac.auth.models import User
from marac.forms import error_list
from marac.orgs.models import Agency
from marac.orgs.services import list_agencies

bp = Blueprint("audit", __name__, url_prefix="/audit")
PAGE_SIZE = 50


def _filtered(form: AuditFilterForm) -> tuple[Any, bool]:
    actor, agency = aliased(User), aliased(Agency)
    query = (
        select(AuditEvent, actor, agency)
        .outerjoin(actor, AuditEvent.actor_user_id == actor.id)
        .outerjoin(agency, AuditEvent.agency_id == agency.id)
    )
    unknown_user = False
    if form.user.data:
        user_id = db.session.scalar(select(User.id).where(User.email == form.user.data.strip().lower()))
        unknown_user = user_id is None
        query = query.where(AuditEvent.actor_user_id == (user_id or -1))
    if form.agency.data:
        query = query.where(agency.public_id == form.agency.data)
    for column, value in (
        (AuditEvent.object_type, form.object_type.data),
        (AuditEvent.object_id, form.object_id.data),
        (AuditEvent.action, form.action.data),
        (AuditEvent.outcome, form.outcome.data),
    ):
        if value:
            query = query.where(column == value.strip())
    if form.date_from.data:
        query = query.where(AuditEvent.occurred_at >= datetime.combine(form.date_from.data, time.min, UTC))
    if form.date_to.data:
        end = datetime.combine(form.date_to.data, time.min, UTC) + timedelta(days=1)
        query = query.where(AuditEvent.occurred_at < end)
    return query, unknown_user


@bp.route("/")
@require(Permission.AUDIT_READ)
def index() -> tuple[str, int]:
    """Filter and page through audit events, newest first; the search itself is audited."""
    form = AuditFilterForm(request.args)
    form.agency.choices = [("", "Any agency")] + [(a.public_id, a.name) for a in list_agencies()]
    rows: list[tuple[AuditEvent, User | None, Agency | None]] = []
    before = request.args.get("before", type=int)
    if before is not None and not 0 < before < 2**62:
        abort(400)
    unknown_user, valid = False, form.validate()
    if valid:
        query, unknown_user = _filtered(form)
        if before:
            query = query.where(AuditEvent.seq < before)
        rows = [tuple(r) for r in db.session.execute(query.order_by(AuditEvent.seq.desc()).limit(PAGE_SIZE + 1))]
    has_more = len(rows) > PAGE_SIZE
    rows = rows[:PAGE_SIZE]
    # Name every filter the DPO typed, even one that failed validation (its data is then None).
    filters = sorted(name for name in form._fields if name != "submit" and request.args.get(name, "").strip())
    audit.record("audit.searched", object_type="audit_events", details={"filters": filters, "valid": valid})
    db.session.commit()
    next_args = {**request.args.to_dict(), "before": rows[-1][0].seq} if has_more and rows else None
    return render_template(
        "audit/index.html",
        form=form,
        rows=rows,
        errors=error_list(form) if not valid else [],
        unknown_user=unknown_user,
        next_args=next_args,
        user_labels=_user_labels(rows),
    ), (200 if valid else 400)


def _user_labels(rows: list[Any]) -> dict[str, str]:
    """Emails for the user objects on this page, so the DPO sees who an account event was about."""
    ids = {event.object_id for event, _actor, _agency in rows if event.object_type == "user" and event.object_id}
    if not ids:
        return {}
    found = db.session.execute(select(User.public_id, User.email).where(User.public_id.in_(ids)))
    return {str(public_id): str(email) for public_id, email in found.all()}
