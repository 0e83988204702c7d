"""Action pages: our agency's actions, one action with its history and status form, a meeting's action plan, and
the quarterly non-completion report."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import Permission, can_see_action, case_relations, require
from marac.actions import lists, reports, status, updates
from marac.actions.forms import StatusForm
from marac.actions.models import ACTION_STATUS_LABELS, Action, ActionStatus
from marac.actions.services import ActionError
from marac.forms import add_error, error_list
from marac.meetings.services import load_meeting_for

bp = Blueprint("actions", __name__)

Page = str | tuple[str, int] | Response


def _action_or_404(public_id: str) -> Action:
    """The action if the current user may see it; 404 (audited) otherwise."""
    action = db.session.scalar(select(Action).where(Action.public_id == public_id))
    if action is None or not can_see_action(current_user, action):
        audit.record_denial("action.view", object_type="action", object_id=public_id, reason="no_relationship")
        abort(404)
    return action


def _label(value: str | None) -> str:
    """A status's label (none before the first change: the action was agreed)."""
    return ACTION_STATUS_LABELS[ActionStatus(value)] if value else "Agreed"


def _field_for(form: StatusForm, message: str) -> object:
    """The field a refusal belongs to: the note when the note was missing or too long, else the status."""
    about_note = message in status.NOTE_NEEDED.values() or message in (status.REOPEN_NOTE, status.PROGRESS_NOTE)
    about_note = about_note or "note" in message
    return form.note if about_note else form.status


@bp.route("/actions")
@require(Permission.CASE_WRITE)
def index() -> str:
    """Our actions: the user's agency's actions, outstanding first, overdue ones flagged; filter by status, or to
    those a coming meeting will look at (with which have been reported on since its agenda was published)."""
    chosen = request.args.get("status") or None
    chosen = chosen if chosen in {s.value for s in ActionStatus} else None
    meeting = None
    if request.args.get("meeting"):
        meeting = load_meeting_for(current_user, request.args["meeting"])
        if meeting is None:
            abort(404)
    rows = lists.agency_actions(current_user, chosen, meeting)
    audit.record(
        "action.list",
        object_type="agency",
        object_id=current_user.agency.public_id,
        details={"n": len(rows)} | ({"meeting": meeting.public_id} if meeting else {}),
    )
    reported = sum(updates.is_reported_for(r.action, meeting) for r in rows) if meeting else 0
    page = render_template(
        "actions/index.html",
        rows=rows,
        chosen=chosen,
        labels=ACTION_STATUS_LABELS,
        meeting=meeting,
        report_meeting=meeting,
        reported=reported,
        is_reported_for=updates.is_reported_for,
    )
    db.session.commit()
    return page


@bp.route("/actions/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.CASE_READ)
def view(public_id: str) -> Page:
    """One action with its history, and a form to report its status (a note is required to close it)."""
    action = _action_or_404(public_id)
    offered = status.next_statuses(current_user, action)
    form = StatusForm()
    form.offer(offered, action.status)
    if request.method == "POST":
        if not offered:
            audit.record_denial("action.status", object_type="action", object_id=public_id, reason="cannot_update")
            db.session.commit()
            abort(403)
        if form.validate_on_submit():
            try:
                event = status.record_action_status(current_user, action, form.status.data or "", form.note.data)
            except ActionError as exc:
                db.session.rollback()
                add_error(_field_for(form, str(exc)), str(exc))
            else:
                db.session.commit()
                if event.from_status == event.to_status:
                    flash("Progress update saved.", "success")
                else:
                    flash(f"Action status saved: {action.status_label.lower()}.", "success")
                return redirect(url_for("actions.view", public_id=public_id))
    audit.record("action.view", object_type="action", object_id=public_id)
    page = render_template(
        "actions/view.html",
        action=action,
        overdue=lists.is_overdue(action),
        history=status.action_history(action),
        form=form if offered else None,
        shows_case=bool(case_relations(current_user, action.case)),
        labels_for=_label,
        errors=error_list(form),
    )
    db.session.commit()
    return page, 400 if request.method == "POST" else 200


@bp.route("/meetings/<pid:public_id>/actions")
@require(Permission.MEETING_VIEW)
def meeting_actions(public_id: str) -> str:
    """The meeting's action plan with each action's status, for those who may see the meeting."""
    meeting = load_meeting_for(current_user, public_id)
    if meeting is None:
        abort(404)
    rows = lists.meeting_action_plan(current_user, meeting)
    audit.record(
        "meeting.view", object_type="meeting", object_id=public_id, details={"page": "actions", "n": len(rows)}
    )
    page = render_template("actions/meeting.html", meeting=meeting, rows=rows)
    db.session.commit()
    return page


@bp.route("/reports/actions")
@require(Permission.MEETING_MANAGE)
def report() -> Page:
    """The quarterly non-completion report per agency, for the steering group."""
    asked = request.args.get("quarter")
    quarter = reports.parse_quarter(asked) if asked else reports.quarter_of(db.london_today())
    if quarter is None:
        errors = [{"text": "Enter a quarter like 2026-Q4", "href": "#quarter"}]
        return render_template("actions/report.html", quarter=None, asked=asked, rows=[], errors=errors), 400
    rows = reports.non_completion_report(current_user, quarter)
    audit.record("action.report", object_type="report", object_id=str(quarter), details={"agencies": len(rows)})
    page = render_template("actions/report.html", quarter=quarter, asked=str(quarter), rows=rows)
    db.session.commit()
    return page
