"""The meeting itself: attendance, observers, each case's discussion and actions; the chair's sign-off,
distribution, the minutes with their versions, and a case's meeting history."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import (
    Permission,
    can_chair_meeting,
    can_manage_meeting,
    can_read_minutes,
    disclosed_parts,
    require,
)
from marac.actions.services import ActionError, agency_owners
from marac.cases.services import audit_unreadable, load_case_for
from marac.forms import add_error, error_list
from marac.meetings import services as svc
from marac.meetings.forms import ButtonForm
from marac.meetings.forms_meeting import (
    ActionForm,
    DiscussionForm,
    DistributeForm,
    ObserverForm,
    SignOffForm,
)
from marac.meetings.models import AgendaItem, Meeting
from marac.meetings.services import MeetingError, listed_items, member_agencies, to_local
from marac.meetings.views.blueprint import bp
from marac.meetings.views.common import (
    MINUTES_NOT_SENT,
    agenda_rows,
    audit_view,
    managed_meeting_or_404,
    meeting_or_404,
    visible_case_ids,
)

Page = str | tuple[str, int] | Response
Refusal = (MeetingError, ActionError)


def _running_or_404(public_id: str) -> Meeting:
    """The meeting if the current user coordinates or chairs its area; 404 (audited) otherwise."""
    meeting = meeting_or_404(public_id)
    if not (can_manage_meeting(current_user, meeting) or can_chair_meeting(current_user, meeting)):
        audit.record_denial("meeting.record", object_type="meeting", object_id=public_id, reason="not_running")
        abort(404)
    return meeting


def _item_or_404(meeting: Meeting, item_id: str) -> AgendaItem:
    item = next((i for i in listed_items(meeting) if i.public_id == item_id), None)
    if item is None:
        audit.record_denial("agenda.item", object_type="agenda_item", object_id=item_id, reason="not_on_agenda")
        abort(404)
    return item


# --- the meeting page ----------------------------------------------------------------------------------------------


def _agency_choices(meeting: Meeting) -> list[tuple[str, str]]:
    return [("", "Select an agency")] + [(a.public_id, a.name) for a in member_agencies(meeting)]


def _owner_choices(meeting: Meeting) -> list[tuple[str, str]]:
    owners = agency_owners(member_agencies(meeting))
    return [("", "No named owner")] + [(u.public_id, f"{u.display_name} ({u.agency.name})") for u in owners]


def _discussion_form(item: AgendaItem, bound: dict[str, FlaskForm]) -> FlaskForm:
    key = f"d-{item.public_id}"
    if key in bound:
        return bound[key]
    form = DiscussionForm(formdata=None, prefix=key)
    form.victim_voice.data, form.risks.data, form.minutes.data = item.victim_voice, item.risks, item.minutes
    return form


def _action_form(meeting: Meeting, item: AgendaItem, bound: dict[str, FlaskForm]) -> FlaskForm:
    key = f"a-{item.public_id}"
    form = bound.get(key) or ActionForm(formdata=None, prefix=key)
    form.agency.choices = _agency_choices(meeting)
    form.owner.choices = _owner_choices(meeting)
    return form


def _day_page(
    meeting: Meeting,
    bound: dict[str, FlaskForm] | None = None,
    register: dict[str, dict[str, str]] | None = None,
    refusal: str | None = None,
) -> tuple[str, int]:
    """The meeting page; `bound` holds a submitted form that was refused (shown with its errors, 400), or
    `register` the submitted attendance register with its `refusal`."""
    bound = bound or {}
    day = svc.meeting_day(current_user, meeting)
    rows = agenda_rows([d.item for d in day.items])
    cases = [
        (d, row.victim, _discussion_form(d.item, bound), _action_form(meeting, d.item, bound))
        for d, row in zip(day.items, rows, strict=True)
    ]
    errors = [e for form in bound.values() for e in error_list(form)]
    if refusal:
        errors.append({"text": refusal, "href": "#register"})
    audit_view(meeting, "meeting_day", cases=len(cases))
    page = render_template(
        "meetings/day_record.html",
        meeting=meeting,
        day=day,
        cases=cases,
        visible=visible_case_ids([d.item for d in day.items]),
        register=register or _register_values(day),
        register_form=ButtonForm(formdata=None),
        observer_form=bound.get("observer") or ObserverForm(formdata=None, prefix="observer"),
        distribute_form=DistributeForm(formdata=None),
        can_manage=can_manage_meeting(current_user, meeting),
        can_chair=can_chair_meeting(current_user, meeting),
        needs_reason=svc.needs_change_reason(meeting),
        statement=svc.CONFIDENTIALITY_STATEMENT,
        statement_version=svc.STATEMENT_VERSION,
        to_local=to_local,
        today=db.london_today(),
        errors=errors,
    )
    audit_unreadable(current_user)  # after rendering: the template decrypts the earlier actions
    db.session.commit()
    return page, 400 if errors else 200


def _register_values(day: Any) -> dict[str, dict[str, str]]:
    """The register as recorded so far, keyed by agency public id."""
    values = {}
    for row in day.attendance:
        record = row.record
        sent = "" if record is None or record.information_sent is None else ("yes" if record.information_sent else "no")
        values[row.agency.public_id] = {
            "status": record.status if record else "",
            "attendees": record.attendees if record else "",
            "sent": sent,
        }
    return values


@bp.route("/meetings/<pid:public_id>/record/register", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def record_register(public_id: str) -> Page:
    """Record the attendance register: every member agency's attendance in one go (saved whole or not at all)."""
    meeting = managed_meeting_or_404(public_id)
    if not ButtonForm().validate_on_submit():
        abort(400)
    submitted, rows = {}, []
    for agency in member_agencies(meeting):
        key = agency.public_id
        status = request.form.get(f"status-{key}", "")
        attendees = request.form.get(f"attendees-{key}", "")[:400]
        sent = request.form.get(f"sent-{key}", "")
        submitted[key] = {"status": status, "attendees": attendees, "sent": sent}
        rows.append(svc.RegisterRow(agency, status, attendees, {"yes": True, "no": False}.get(sent)))
    try:
        changed = svc.record_register(
            current_user, meeting, rows, change_reason=request.form.get("change_reason", "")[:2000] or None
        )
    except Refusal as exc:
        db.session.rollback()
        return _day_page(managed_meeting_or_404(public_id), register=submitted, refusal=str(exc))
    db.session.commit()
    flash(f"Attendance saved for {changed} {'agency' if changed == 1 else 'agencies'}.", "success")
    return redirect(url_for("meetings.record", public_id=public_id, _anchor="attendance"))


def _refused(public_id: str, key: str, form: FlaskForm, field: Any, message: str | None = None) -> tuple[str, int]:
    """Undo the refused change and show the page again with the form's errors."""
    db.session.rollback()
    if message:
        add_error(field, message)
    meeting = managed_meeting_or_404(public_id)
    return _day_page(meeting, {key: form})


def _reason_or(form: Any, field: Any, message: str) -> Any:
    """The field a refusal belongs on: the change reason when it is about the reason."""
    return form.change_reason if "reason" in message.lower() or "signed" in message.lower() else field


@bp.route("/meetings/<pid:public_id>/record")
@require(Permission.MEETING_VIEW)
def record(public_id: str) -> tuple[str, int]:
    """The meeting page: attendance, observers, and each case with earlier actions, research, discussion and
    actions agreed."""
    return _day_page(_running_or_404(public_id))


@bp.route("/meetings/<pid:public_id>/record/observers", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def add_observer(public_id: str) -> Page:
    """Record an observer who has signed the confidentiality statement."""
    meeting = managed_meeting_or_404(public_id)
    form = ObserverForm(prefix="observer")
    if not form.validate_on_submit():
        return _refused(public_id, "observer", form, form.name)
    try:
        svc.add_observer(
            current_user,
            meeting,
            form.name.data,
            form.organisation.data,
            form.purpose.data,
            bool(form.statement_signed.data),
            change_reason=form.change_reason.data,
        )
    except Refusal as exc:
        field = _reason_or(form, form.statement_signed, str(exc))
        return _refused(public_id, "observer", form, field, str(exc))
    db.session.commit()
    flash("Observer added.", "success")
    return redirect(url_for("meetings.record", public_id=public_id, _anchor="observers"))


@bp.route("/meetings/<pid:public_id>/record/<pid:item_id>/discussion", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def record_discussion(public_id: str, item_id: str) -> Page:
    """Record a case's discussion: the victim's voice, the risks identified and the minutes."""
    meeting = managed_meeting_or_404(public_id)
    item = _item_or_404(meeting, item_id)
    key = f"d-{item_id}"
    form = DiscussionForm(prefix=key)
    if not form.validate_on_submit():
        return _refused(public_id, key, form, form.minutes)
    try:
        svc.record_discussion(
            current_user,
            item,
            form.victim_voice.data,
            form.risks.data,
            form.minutes.data,
            change_reason=form.change_reason.data,
        )
    except Refusal as exc:
        return _refused(public_id, key, form, _reason_or(form, form.minutes, str(exc)), str(exc))
    db.session.commit()
    flash(f"Discussion of case {item.case.reference} saved.", "success")
    return redirect(url_for("meetings.record", public_id=public_id, _anchor=f"case-{item_id}"))


@bp.route("/meetings/<pid:public_id>/record/<pid:item_id>/actions", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def add_action(public_id: str, item_id: str) -> Page:
    """Record an action agreed for a case."""
    meeting = managed_meeting_or_404(public_id)
    item = _item_or_404(meeting, item_id)
    key = f"a-{item_id}"
    form = _action_form(meeting, item, {key: ActionForm(prefix=key)})
    if not form.validate_on_submit():
        return _refused(public_id, key, form, form.description)
    agency = next((a for a in member_agencies(meeting) if a.public_id == form.agency.data), None)
    owners = {u.public_id: u for u in agency_owners(member_agencies(meeting))}
    owner = owners.get(form.owner.data or "")
    if agency is None:
        return _refused(public_id, key, form, form.agency, "Select a member agency of this MARAC")
    if form.owner.data and owner is None:
        return _refused(public_id, key, form, form.owner, "Select the owner from the list, or leave it blank")
    try:
        svc.agree_action(
            current_user,
            item,
            agency=agency,
            owner=owner,
            description=form.description.data or "",
            due_on=form.due_on.data,
            change_reason=form.change_reason.data,
        )
    except Refusal as exc:
        return _refused(public_id, key, form, _action_field(form, str(exc)), str(exc))
    db.session.commit()
    flash(f"Action added for case {item.case.reference}.", "success")
    return redirect(url_for("meetings.record", public_id=public_id, _anchor=f"case-{item_id}"))


def _action_field(form: Any, message: str) -> Any:
    lowered = message.lower()
    if "owner" in lowered:
        return form.owner
    if "due" in lowered:
        return form.due_on
    if "agency" in lowered:
        return form.agency
    return _reason_or(form, form.description, message)


# --- sign-off and distribution -------------------------------------------------------------------------------------


def _chaired_or_404(public_id: str) -> Meeting:
    meeting = meeting_or_404(public_id)
    if not can_chair_meeting(current_user, meeting):
        audit.record_denial("minutes.sign", object_type="meeting", object_id=public_id, reason="not_chair")
        abort(404)
    return meeting


@bp.route("/meetings/<pid:public_id>/sign-off", methods=["GET", "POST"])
@require(Permission.MINUTES_SIGN)
def sign_off(public_id: str) -> Page:
    """The chair reads the minutes as they stand and signs them off."""
    meeting = _chaired_or_404(public_id)
    form = SignOffForm()
    if form.validate_on_submit():
        try:
            version = svc.sign_off_minutes(current_user, meeting)
        except MeetingError as exc:
            db.session.rollback()
            meeting = _chaired_or_404(public_id)
            add_error(form.confirm, str(exc))
        else:
            db.session.commit()
            flash(f"Minutes signed off as version {version.version}.", "success")
            return redirect(url_for("meetings.minutes", public_id=public_id))
    errors = error_list(form)
    page = render_template(
        "meetings/minutes_sign_off.html",
        meeting=meeting,
        form=form,
        problem=svc.sign_off_problem(current_user, meeting),
        snapshot=svc.minutes_snapshot(meeting),
        hidden={i.case.reference for i in listed_items(meeting)} - _visible_references(meeting),
        pending_reason=svc.pending_change_reason(meeting),
        to_local=to_local,
        errors=errors,
    )
    audit_view(meeting, "minutes_sign_off")
    db.session.commit()
    return page, 400 if request.method == "POST" else 200


@bp.route("/meetings/<pid:public_id>/distribute", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def distribute(public_id: str) -> Page:
    """Send the signed minutes to member agencies (a content-free message each)."""
    meeting = managed_meeting_or_404(public_id)
    if not DistributeForm().validate_on_submit():
        abort(400)
    try:
        sent = svc.distribute_minutes(current_user, meeting)
    except MeetingError as exc:
        db.session.rollback()
        return _minutes_page(managed_meeting_or_404(public_id), [{"text": str(exc), "href": "#distribution"}])
    db.session.commit()
    flash(f"Minutes version {meeting.distributed_version} distributed: {sent} messages queued.", "success")
    return redirect(url_for("meetings.minutes", public_id=public_id))


def _visible_references(meeting: Meeting) -> set[str]:
    items = listed_items(meeting)
    shown = visible_case_ids(items)
    return {i.case.reference for i in items if i.case_id in shown}


# --- the minutes, read-only ----------------------------------------------------------------------------------------


def _minutes_page(meeting: Meeting, errors: list[dict[str, str]] | None = None) -> tuple[str, int]:
    errors = errors or []
    items = [i for i in listed_items(meeting) if i.recorded_at is not None]
    running = can_manage_meeting(current_user, meeting) or can_chair_meeting(current_user, meeting)
    page = render_template(
        "meetings/minutes.html",
        meeting=meeting,
        rows=list(zip(items, agenda_rows(items), strict=True)),
        visible=visible_case_ids(items),
        actions=svc.meeting_actions(meeting),
        attendance=svc.attendance_rows(meeting),
        observers=svc.meeting_observers(meeting),
        versions=svc.minutes_versions(meeting),
        pending_reason=svc.pending_change_reason(meeting) if running else None,
        deadline=svc.minutes_deadline(meeting),
        is_overdue=svc.minutes_overdue(meeting, db.london_today()),
        can_manage=can_manage_meeting(current_user, meeting),
        can_chair=can_chair_meeting(current_user, meeting),
        distribute_form=DistributeForm(formdata=None),
        to_local=to_local,
        errors=errors,
    )
    audit_view(meeting, "minutes", cases=len(items))
    audit_unreadable(current_user)
    db.session.commit()
    return page, 400 if errors else 200


@bp.route("/meetings/<pid:public_id>/minutes")
@require(Permission.MEETING_VIEW)
def minutes(public_id: str) -> tuple[str, int]:
    """The minutes and action plan as they stand, their signed versions, and the distribution deadline."""
    meeting = meeting_or_404(public_id)
    if meeting.minutes_version < 1:
        abort(409, description="No minutes have been recorded for this meeting yet")
    if not can_read_minutes(current_user, meeting):
        abort(409, description=MINUTES_NOT_SENT)
    return _minutes_page(meeting)


# --- a case's meetings ---------------------------------------------------------------------------------------------


@bp.route("/cases/<pid:public_id>/meetings")
@require(Permission.CASE_READ)
def case_history(public_id: str) -> str:
    """Every MARAC meeting that listed the case, and the actions agreed at each."""
    view = load_case_for(current_user, public_id)
    if view is None:
        abort(404)
    parts = disclosed_parts(current_user, view.relations, [view.case.id])
    if parts is not None and "risk" not in parts:  # a disclosure that did not include risk information
        audit.record_denial("case.meetings", object_type="case", object_id=public_id, reason="not_disclosed")
        abort(404)
    history = svc.case_meeting_history(current_user, view.case)
    page = render_template(
        "meetings/case_history.html",
        view=view,
        history=history,
        to_local=to_local,
        today=db.london_today(),
    )
    db.session.commit()
    return page
