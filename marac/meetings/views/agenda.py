"""The agenda builder: cases waiting for a meeting, allocating, ordering (plain forms: no JavaScript needed), time
budgets, capacity warnings, deferral and publication."""

from __future__ import annotations

import re

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import Permission, require
from marac.cases.models import Case
from marac.cases.services import audit_unreadable, get_case
from marac.forms import add_error, error_list
from marac.meetings import services
from marac.meetings.forms import ButtonForm, DeferForm
from marac.meetings.models import AgendaItem, Meeting
from marac.meetings.services.agenda import earlier_outstanding_actions
from marac.meetings.views.blueprint import bp
from marac.meetings.views.common import agenda_rows, audit_view, case_rows, managed_meeting_or_404

Page = str | tuple[str, int] | Response


def _builder(meeting: Meeting, errors: list[dict[str, str]] | None = None) -> tuple[str, int]:
    """The builder page, with errors (400) when an action on it was refused; the outstanding actions from earlier
    meetings for the cases on it come first."""
    waiting = services.awaiting_allocation(current_user, meeting.area_id)
    rows = agenda_rows(services.listed_items(meeting))
    waiting_rows = case_rows(waiting)
    earlier = earlier_outstanding_actions(current_user, meeting)
    shown = sum(len(group.actions) for group in earlier)
    audit_view(meeting, "agenda_builder", cases=len(rows), waiting=len(waiting), earlier_actions=shown)
    page = render_template(
        "meetings/agenda.html",
        meeting=meeting,
        rows=rows,
        waiting=waiting_rows,
        earlier=earlier,
        today=db.london_today(),
        deferred=services.deferred_items(meeting),
        capacity=services.capacity(meeting),
        form=ButtonForm(),
        is_open=not meeting.is_cancelled and meeting.starts_at > db.utcnow(),
        to_local=services.to_local,
        errors=errors or [],
    )
    audit_unreadable(current_user)  # after rendering: the template opens the earlier actions' descriptions
    db.session.commit()
    return page, 400 if errors else 200


def _refused(meeting: Meeting, message: str, anchor: str = "agenda") -> tuple[str, int]:
    db.session.rollback()
    meeting = managed_meeting_or_404(meeting.public_id)
    return _builder(meeting, [{"text": message, "href": f"#{anchor}"}])


def _item(meeting: Meeting, item_id: str) -> AgendaItem:
    item = next((i for i in meeting.items if i.public_id == item_id), None)
    if item is None:
        audit.record_denial("agenda.item", object_type="agenda_item", object_id=item_id, reason="not_on_agenda")
        abort(404)
    return item


def _checked_form() -> None:
    if not ButtonForm().validate_on_submit():
        abort(400)


@bp.route("/meetings/<pid:public_id>/agenda")
@require(Permission.MEETING_MANAGE)
def agenda(public_id: str) -> tuple[str, int]:
    """Build the agenda: waiting referrals, the cases allocated in order, time budgets and capacity."""
    return _builder(managed_meeting_or_404(public_id))


@bp.route("/meetings/<pid:public_id>/agenda/allocate", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def allocate(public_id: str) -> Page:
    """Put a waiting referral on this agenda."""
    meeting = managed_meeting_or_404(public_id)
    _checked_form()
    case = _allocatable_case(request.form.get("case", ""))
    if case is None:
        return _refused(meeting, "Select a case from the list of referrals waiting for a meeting", "waiting")
    try:
        item = services.allocate(current_user, meeting, case)
    except services.MeetingError as exc:
        return _refused(meeting, str(exc), "waiting")
    db.session.commit()
    late = " as a late addition: member agencies have been asked for research" if item.is_late else ""
    flash(f"Case {case.reference} added to the agenda{late}.", "success")
    return redirect(url_for("meetings.agenda", public_id=public_id, _anchor="agenda"))


def _allocatable_case(case_id: str) -> Case | None:
    """The case to allocate, if the current user may see it (its referral's state is checked by the service)."""
    from marac.access import case_relations

    case = get_case(case_id) if case_id else None
    if case is None or not case_relations(current_user, case):
        audit.record_denial("agenda.allocate", object_type="case", object_id=case_id[:64], reason="no_relationship")
        return None
    return case


@bp.route("/meetings/<pid:public_id>/agenda/<pid:item_id>/move", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def move_item(public_id: str, item_id: str) -> Page:
    """Move a case one place up or down."""
    meeting = managed_meeting_or_404(public_id)
    _checked_form()
    item = _item(meeting, item_id)
    try:
        services.move_item(current_user, item, request.form.get("direction", ""))
    except services.MeetingError as exc:
        return _refused(meeting, str(exc))
    db.session.commit()
    return redirect(url_for("meetings.agenda", public_id=public_id, _anchor=f"item-{item.public_id}"))


@bp.route("/meetings/<pid:public_id>/agenda/<pid:item_id>/budget", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def set_budget(public_id: str, item_id: str) -> Page:
    """Change a case's time budget."""
    meeting = managed_meeting_or_404(public_id)
    _checked_form()
    item = _item(meeting, item_id)
    raw = request.form.get("minutes", "").strip()
    if not re.fullmatch(r"[0-9]{1,3}", raw):  # ASCII digits only: "²".isdigit() is true but int() refuses it
        return _refused(meeting, "Enter the minutes for the case as a whole number, like 10", f"budget-{item_id}")
    try:
        services.set_budget(current_user, item, int(raw))
    except services.MeetingError as exc:
        return _refused(meeting, str(exc), f"budget-{item_id}")
    db.session.commit()
    return redirect(url_for("meetings.agenda", public_id=public_id, _anchor=f"item-{item.public_id}"))


@bp.route("/meetings/<pid:public_id>/agenda/<pid:item_id>/remove", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def remove_item(public_id: str, item_id: str) -> Page:
    """Take a case off an unpublished agenda."""
    meeting = managed_meeting_or_404(public_id)
    _checked_form()
    item = _item(meeting, item_id)
    reference = item.case.reference
    try:
        services.remove_item(current_user, item)
    except services.MeetingError as exc:
        return _refused(meeting, str(exc))
    db.session.commit()
    flash(f"Case {reference} taken off the agenda: it is waiting for a meeting again.", "success")
    return redirect(url_for("meetings.agenda", public_id=public_id))


@bp.route("/meetings/<pid:public_id>/agenda/<pid:item_id>/defer", methods=["GET", "POST"])
@require(Permission.MEETING_MANAGE)
def defer_item(public_id: str, item_id: str) -> Page:
    """Defer a case to a later meeting, with the reason."""
    meeting = managed_meeting_or_404(public_id)
    item = _item(meeting, item_id)
    form = DeferForm()
    if form.validate_on_submit():
        try:
            services.defer_item(current_user, item, form.reason.data or "")
        except services.MeetingError as exc:
            add_error(form.reason, str(exc))
        else:
            db.session.commit()
            flash(f"Case {item.case.reference} deferred: it is waiting for a meeting again.", "success")
            return redirect(url_for("meetings.agenda", public_id=public_id))
    status = 400 if request.method == "POST" else 200
    page = render_template("meetings/defer.html", form=form, meeting=meeting, item=item, errors=error_list(form))
    db.session.commit()
    return page, status


@bp.route("/meetings/<pid:public_id>/publish", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def publish(public_id: str) -> Page:
    """Publish the agenda: member agencies are asked for research and told (with no case content)."""
    meeting = managed_meeting_or_404(public_id)
    _checked_form()
    try:
        made = services.publish_agenda(current_user, meeting)
    except services.MeetingError as exc:
        return _refused(meeting, str(exc), "publish")
    db.session.commit()
    flash(f"Agenda published. {made} research requests sent to member agencies.", "success")
    return redirect(url_for("meetings.view", public_id=public_id))
