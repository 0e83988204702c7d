"""Operation Encompass pages for key adults: the notifications they receive, one notification with everything they
need that morning, and acknowledging it (routes are registered on the package's blueprint)."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from marac import db
from marac.access import Permission, require
from marac.encompass.forms_receiving import AcknowledgeForm
from marac.encompass.services import receiving
from marac.encompass.views.blueprint import bp
from marac.forms import add_error, error_list

__all__ = ["bp"]

Page = str | tuple[str, int] | Response


@bp.route("/encompass/notifications")
@require(Permission.ENCOMPASS_RECEIVE)
def notifications() -> str:
    """The notifications the key adult receives, latest due first, with their status."""
    rows = receiving.received_notifications(current_user)
    page = render_template("encompass/notification_list.html", rows=rows)
    db.session.commit()
    return page


@bp.route("/encompass/notifications/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.ENCOMPASS_RECEIVE)
def notification(public_id: str) -> Page:
    """One notification for its key adult, and acknowledging it with an optional note of the support offered."""
    found = receiving.load_notification_for(current_user, public_id)
    if found is None:
        abort(404)
    form = AcknowledgeForm()
    if request.method == "POST" and form.validate_on_submit():
        try:
            receiving.acknowledge_notification(current_user, found, form.note.data)
        except receiving.ReceivingError as exc:
            db.session.rollback()
            add_error(form.note, str(exc))
        else:
            db.session.commit()
            flash("Notification acknowledged.", "success")
            return redirect(url_for("encompass.notification", public_id=public_id))
    receiving.open_notification(current_user, found)
    errors = error_list(form)
    if found.acknowledged_at is not None:  # refused because already acknowledged: point at who did and when
        errors = [{**error, "href": "#acknowledged"} for error in errors]
    page = render_template(
        "encompass/notification_view.html",
        notification=found,
        details=receiving.notification_details(found),
        deadline=receiving.acknowledge_deadline(found),
        overdue=receiving.is_overdue_for_acknowledgement(found, db.utcnow()),
        form=form if found.acknowledged_at is None else None,
        errors=errors,
    )
    db.session.commit()
    return page, 400 if request.method == "POST" else 200
