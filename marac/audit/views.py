"""The DPO's view of the audit trail."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_login import current_user

from marac import db
from marac.access import Permission, require
from marac.audit.forms import AuditFilterForm
from marac.audit.search import EventFilter, EventPage, record_refused_search, search_events
from marac.forms import error_list
from marac.orgs.services import list_agencies

bp = Blueprint("audit", __name__, url_prefix="/audit")


def _filter_from(form: AuditFilterForm, before: int | None) -> EventFilter:
    return EventFilter(
        user_email=form.user.data,
        agency_public_id=form.agency.data,
        object_type=form.object_type.data,
        object_id=form.object_id.data,
        action=form.action.data,
        outcome=form.outcome.data,
        date_from=form.date_from.data,
        date_to=form.date_to.data,
        before_seq=before,
    )


@bp.route("/")
@require(Permission.AUDIT_READ)
def index() -> tuple[str, int]:
    """Filter and page through audit events, newest first; the search itself is audited."""
    form = AuditFilterForm(request.args)
    form.agency.choices = [("", "Any agency")] + [(a.public_id, a.name) for a in list_agencies()]
    before = request.args.get("before", type=int)
    if before is not None and not 0 < before < 2**62:
        abort(400)
    # Name every filter the DPO typed, even one that failed validation (its data is then None).
    asked_for = sorted(name for name in form._fields if name != "submit" and request.args.get(name, "").strip())
    valid = form.validate()
    if valid:
        page = search_events(current_user, _filter_from(form, before), asked_for)
    else:
        page = EventPage()
        record_refused_search(current_user, asked_for)
    db.session.commit()
    next_args = {**request.args.to_dict(), "before": page.rows[-1][0].seq} if page.has_more and page.rows else None
    return render_template(
        "audit/index.html",
        form=form,
        page=page,
        rows=page.rows,
        errors=[] if valid else error_list(form),
        unknown_user=page.unknown_user,
        next_args=next_args,
        user_labels=page.user_labels,
    ), (200 if valid else 400)
