"""Operation Encompass pages: delivery monitoring for leads, and the notifications on a MARAC case for those who
work on it (routes are registered on the package's blueprint)."""

from __future__ import annotations

from typing import Any

from flask import abort, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from marac import audit, db
from marac.access import Permission, disclosed_parts, managed_authority_ids, require
from marac.cases.services import load_case_for
from marac.encompass.services import monitoring, receiving
from marac.encompass.views.blueprint import bp
from marac.orgs.models import Agency

__all__ = ["bp"]

Page = str | tuple[str, int]


def _authorities(scope: set[int] | None) -> list[Agency]:
    """The local authorities the user monitors, by name."""
    query = select(Agency).where(Agency.kind == "local_authority").order_by(Agency.name)
    if scope is not None:
        query = query.where(Agency.id.in_(scope))
    return list(db.session.scalars(query))


@bp.route("/encompass/monitoring")
@require(Permission.ENCOMPASS_MONITOR)
def monitoring_page() -> Page:
    """Delivery figures for the local authorities the lead monitors: totals, by setting (worst first) and by day."""
    scope = managed_authority_ids(current_user)
    authorities = _authorities(scope)
    chosen = None
    if request.args.get("authority"):
        chosen = next((a for a in authorities if a.public_id == request.args["authority"]), None)
        if chosen is None:
            audit.record_denial("encompass.monitoring", object_type="agency", object_id=None, reason="not_managed")
            abort(404)
    raw_from, raw_to = request.args.get("from"), request.args.get("to")
    try:
        start, end = monitoring.parse_range(raw_from, raw_to, db.london_today())
    except monitoring.RangeError as exc:
        errors = [{"text": str(exc), "href": "#from"}]
        page = render_template(
            "encompass/monitoring.html",
            figures=None,
            authorities=authorities,
            chosen=chosen,
            raw_from=raw_from or "",
            raw_to=raw_to or "",
            errors=errors,
            measures=monitoring.MEASURES,
        )
        return page, 400
    ids = {chosen.id} if chosen else {a.id for a in authorities}
    try:
        figures = monitoring.delivery_figures(ids, start, end, monitoring.parse_page(request.args.get("page")))
    except monitoring.PageNotFound:
        abort(404)
    audit.record(
        "encompass.monitoring",
        object_type="agency",
        object_id=chosen.public_id if chosen else None,
        details={"from": start.isoformat(), "to": end.isoformat(), "n": figures.totals.total, "page": figures.page},
    )
    query: dict[str, Any] = {"from": start.isoformat(), "to": end.isoformat()}
    if chosen:
        query["authority"] = chosen.public_id
    page = render_template(
        "encompass/monitoring.html",
        figures=figures,
        authorities=authorities,
        chosen=chosen,
        raw_from=start.isoformat(),
        raw_to=end.isoformat(),
        errors=None,
        measures=monitoring.MEASURES,
        page_url=lambda number: url_for("encompass.monitoring_page", page=number, **query) + "#by-setting",
    )
    db.session.commit()
    return page


@bp.route("/cases/<pid:public_id>/encompass")
@require(Permission.CASE_READ)
def case_page(public_id: str) -> str:
    """The Operation Encompass notifications for the case's children, for those who work on the case."""
    view = load_case_for(current_user, public_id)
    if view is None:
        abort(404)
    parts = disclosed_parts(current_user, view.relations, [view.case.id])
    if monitoring.children_withheld(parts):  # a disclosure that did not include the children
        audit.record_denial("encompass.case_view", object_type="case", object_id=public_id, reason="not_disclosed")
        abort(404)
    rows = receiving.notifications_for_case(current_user, view, parts)
    page = render_template("encompass/case_notifications.html", view=view, rows=rows)
    db.session.commit()
    return page
