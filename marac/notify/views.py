"""The notification centre page: what each message was about, newest first."""

from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from marac import db
from marac.access import Permission, require
from marac.forms import safe_next
from marac.notify.centre import get_notification, mark_read, notifications_for, unread_count

bp = Blueprint("notify", __name__)


@bp.route("/notifications")
@require(Permission.SIGNED_IN)
def index() -> str:
    """The user's notifications, newest first, unread ones marked."""
    page = render_template("notify/index.html", notifications=notifications_for(current_user), form=FlaskForm())
    db.session.commit()
    return page


@bp.route("/notifications/<pid:public_id>/read", methods=["POST"])
@require(Permission.SIGNED_IN)
def read(public_id: str) -> Response:
    """Mark one of the user's notifications read and go to what it is about."""
    if not FlaskForm().validate_on_submit():
        abort(400)
    notification = get_notification(current_user, public_id)
    if notification is None:
        abort(404)
    mark_read(notification)
    db.session.commit()
    return redirect(safe_next(notification.link) or url_for("notify.index"))


@bp.app_template_global("unread_notification_count")
def unread_notification_count() -> int:
    """How many of the signed-in user's notifications are unread, for the header (one COUNT a request, and only
    when a page shows the navigation: nothing for anonymous visitors)."""
    if not current_user.is_authenticated:
        return 0
    if "unread_notifications" not in g:
        g.unread_notifications = unread_count(current_user)
    return int(g.unread_notifications)
