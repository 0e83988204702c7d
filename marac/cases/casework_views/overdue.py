"""Overdue reviews: the user's own and, for a coordinator, their areas'."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from marac import db
from marac.access import Permission, require, sees_area_overdue
from marac.cases.casework_views.blueprint import bp
from marac.cases.overdue import area_overdue, my_overdue


@bp.route("/overdue")
@require(Permission.CASE_READ)
def overdue() -> str:
    """The user's overdue reviews and, for a coordinator, everything overdue in their areas."""
    mine = my_overdue(current_user)
    area = area_overdue(current_user) if sees_area_overdue(current_user) else None
    db.session.commit()
    return render_template("casework/overdue.html", mine=mine, area=area)
