"""Meeting pages: the list, each area's pattern, adding, moving and cancelling a meeting, the meeting page and its
calendar invite."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response as BaseResponse

from marac import audit, db
from marac.access import Permission, Role, can_chair_meeting, can_manage_meeting, require, user_area_ids, user_roles
from marac.auth.models import User, UserRole
from marac.cases.services import audit_unreadable
from marac.forms import add_error, error_list
from marac.meetings import services
from marac.meetings.forms import CancelForm, MeetingTimeForm, PatternForm
from marac.meetings.models import Frequency, Meeting
from marac.meetings.views.blueprint import bp
from marac.meetings.views.common import (
    agenda_rows,
    audit_view,
    managed_area_or_404,
    managed_meeting_or_404,
    meeting_or_404,
)
from marac.orgs.models import Area

Page = str | tuple[str, int] | BaseResponse


def _starts_at(form: MeetingTimeForm) -> datetime:
    """The validated form's date and time as UTC."""
    day, at = form.day.data, form.start_time.time
    assert day is not None  # the form validated both
    assert at is not None
    return services.local_to_utc(day, at)


def _status() -> int:
    return 400 if request.method == "POST" else 200


@bp.route("/meetings")
@require(Permission.MEETING_VIEW)
def index() -> str:
    """Upcoming and past meetings of the user's areas; for coordinators, their areas' patterns and waiting cases."""
    managed = []
    if Role.COORDINATOR in user_roles(current_user):
        areas = db.session.scalars(select(Area).where(Area.id.in_(user_area_ids(current_user))).order_by(Area.name))
        managed = [(a, services.area_pattern(a), len(services.awaiting_allocation(current_user, a.id))) for a in areas]
    page = render_template(
        "meetings/index.html",
        upcoming=services.meetings_for(current_user, upcoming=True),
        past=services.meetings_for(current_user, upcoming=False, limit=12),
        managed=managed,
        to_local=services.to_local,
        minutes_overdue=services.minutes_overdue,
        today=db.london_today(),
        now=db.utcnow(),
    )
    db.session.commit()
    return page


def _chairs(area: Area) -> list[User]:
    users = db.session.scalars(
        select(User).join(UserRole).where(UserRole.role == Role.CHAIR, User.is_active.is_(True)).order_by(User.id)
    )
    return [u for u in users if area.id in user_area_ids(u)]


@bp.route("/areas/<pid:public_id>/meeting-pattern", methods=["GET", "POST"])
@require(Permission.MEETING_MANAGE)
def pattern(public_id: str) -> Page:
    """Set how often and when the area meets; saving generates the meetings for the next three months."""
    area = managed_area_or_404(public_id)
    chairs = _chairs(area)
    current = services.area_pattern(area)
    form = PatternForm(obj=None)
    form.chair.choices = [("", "No usual chair"), *((u.public_id, u.display_name) for u in chairs)]
    if request.method == "GET":
        _fill_pattern(form, current)
    if form.validate_on_submit():
        chair = next((u for u in chairs if u.public_id == form.chair.data), None)
        try:
            services.save_pattern(current_user, area, _pattern_values(form, chair))
        except services.MeetingError as exc:
            add_error(form.chair, str(exc))
        else:
            db.session.commit()
            flash(
                f"Meeting pattern saved for {area.name}; meetings for the next three months are scheduled.", "success"
            )
            return redirect(url_for("meetings.index"))
    members = [(a, services.representatives_of(area, a)) for a in sorted(area.agencies, key=lambda a: a.name)]
    page = render_template("meetings/pattern.html", form=form, area=area, members=members, errors=error_list(form))
    return page, _status()


def _fill_pattern(form: PatternForm, current: Any) -> None:
    if current is None:
        form.frequency.data, form.weekday.data, form.week_of_month.data = Frequency.MONTHLY.value, "2", "1"
        form.start_time.data, form.length_minutes.data = "10:00", 180
        form.case_limit.data, form.minutes_per_case.data, form.research_due_days.data = 15, 10, 2
        form.starts_on.data = db.london_today()
        return
    form.frequency.data, form.weekday.data = current.frequency, str(current.weekday)
    form.week_of_month.data = str(current.week_of_month or 1)
    form.starts_on.data, form.start_time.data = current.starts_on, current.start_time.strftime("%H:%M")
    form.length_minutes.data, form.case_limit.data = current.length_minutes, current.case_limit
    form.minutes_per_case.data, form.research_due_days.data = current.minutes_per_case, current.research_due_days
    form.venue.data, form.call_details.data = current.venue, current.call_details
    form.chair.data = current.chair.public_id if current.chair else ""


def _pattern_values(form: PatternForm, chair: User | None) -> dict[str, Any]:
    return {
        "frequency": form.frequency.data,
        "weekday": int(form.weekday.data or 0),
        "week_of_month": int(form.week_of_month.data or 1),
        "starts_on": form.starts_on.data,
        "start_time": form.start_time.time,
        "length_minutes": form.length_minutes.data,
        "case_limit": form.case_limit.data,
        "minutes_per_case": form.minutes_per_case.data,
        "research_due_days": form.research_due_days.data,
        "venue": (form.venue.data or "").strip(),
        "call_details": (form.call_details.data or "").strip(),
        "chair": chair,
    }


@bp.route("/areas/<pid:public_id>/meetings/new", methods=["GET", "POST"])
@require(Permission.MEETING_MANAGE)
def add(public_id: str) -> Page:
    """Add a meeting outside the pattern (an extra or emergency meeting)."""
    area = managed_area_or_404(public_id)
    form = MeetingTimeForm()
    current = services.area_pattern(area)
    if request.method == "GET":
        form.start_time.data = current.start_time.strftime("%H:%M") if current else "10:00"
        form.length_minutes.data = current.length_minutes if current else 180
        form.venue.data = current.venue if current else ""
        form.call_details.data = current.call_details if current else ""
    if form.validate_on_submit():
        starts_at = _starts_at(form)
        try:
            meeting = services.add_meeting(
                current_user,
                area,
                starts_at,
                length_minutes=form.length_minutes.data,
                venue=(form.venue.data or "").strip(),
                call_details=(form.call_details.data or "").strip(),
            )
        except services.MeetingError as exc:
            add_error(form.day, str(exc))
        else:
            db.session.commit()
            flash(f"Meeting {meeting.reference} added.", "success")
            return redirect(url_for("meetings.view", public_id=meeting.public_id))
    return render_template(
        "meetings/time_form.html", form=form, area=area, meeting=None, errors=error_list(form)
    ), _status()


@bp.route("/meetings/<pid:public_id>")
@require(Permission.MEETING_VIEW)
def view(public_id: str) -> str:
    """A meeting: when and where, its agenda (as the user may see it), and links to its papers."""
    meeting = meeting_or_404(public_id)
    items = services.listed_items(meeting)
    rows = agenda_rows(items)
    audit_view(meeting, "agenda", cases=len(items))
    audit_unreadable(current_user)
    page = render_template(
        "meetings/view.html",
        meeting=meeting,
        rows=rows,
        deferred=services.deferred_items(meeting),
        capacity=services.capacity(meeting),
        can_manage=can_manage_meeting(current_user, meeting),
        can_chair=can_chair_meeting(current_user, meeting),
        has_started=meeting.starts_at <= db.utcnow(),
        to_local=services.to_local,
    )
    db.session.commit()
    return page


@bp.route("/meetings/<pid:public_id>/move", methods=["GET", "POST"])
@require(Permission.MEETING_MANAGE)
def move(public_id: str) -> Page:
    """Move a meeting to another time or place, with a reason; agencies are told if the agenda is published."""
    meeting = managed_meeting_or_404(public_id)
    form = MeetingTimeForm()
    if request.method == "GET":
        local = services.to_local(meeting.starts_at)
        form.day.data, form.start_time.data = local.date(), local.strftime("%H:%M")
        form.length_minutes.data, form.venue.data = meeting.length_minutes, meeting.venue
        form.call_details.data = meeting.call_details
    if form.validate_on_submit():
        try:
            services.move_meeting(
                current_user,
                meeting,
                _starts_at(form),
                venue=(form.venue.data or "").strip(),
                call_details=(form.call_details.data or "").strip(),
                reason=form.reason.data or "",
                length_minutes=form.length_minutes.data,
            )
        except services.MeetingError as exc:
            db.session.rollback()
            meeting = managed_meeting_or_404(public_id)
            add_error(form.reason if "reason" in str(exc) or "why" in str(exc).lower() else form.day, str(exc))
        else:
            db.session.commit()
            flash(f"Meeting {meeting.reference} moved.", "success")
            return redirect(url_for("meetings.view", public_id=public_id))
    return render_template(
        "meetings/time_form.html", form=form, area=meeting.area, meeting=meeting, errors=error_list(form)
    ), _status()


@bp.route("/meetings/<pid:public_id>/cancel", methods=["GET", "POST"])
@require(Permission.MEETING_MANAGE)
def cancel(public_id: str) -> Page:
    """Cancel a meeting, with a reason: its cases wait for another meeting."""
    meeting = managed_meeting_or_404(public_id)
    form = CancelForm()
    if form.validate_on_submit():
        try:
            services.cancel_meeting(current_user, meeting, form.reason.data or "")
        except services.MeetingError as exc:
            add_error(form.reason, str(exc))
        else:
            db.session.commit()
            flash(f"Meeting {meeting.reference} cancelled. Its cases are waiting for another meeting.", "success")
            return redirect(url_for("meetings.index"))
    return render_template("meetings/cancel.html", form=form, meeting=meeting, errors=error_list(form)), _status()


@bp.route("/meetings/<pid:public_id>/invite.ics")
@require(Permission.MEETING_VIEW)
def invite(public_id: str) -> Response:
    """The meeting's calendar invite (time, place and how to join; never case content)."""
    meeting = meeting_or_404(public_id)
    body = services.meeting_invite(meeting)
    audit.record("meeting.invite", object_type="meeting", object_id=meeting.public_id)
    db.session.commit()
    return Response(
        body,
        mimetype="text/calendar",
        headers={
            "Content-Disposition": f'attachment; filename="{meeting.reference}.ics"',
            "Cache-Control": "no-store",
        },
    )


__all__ = ["Meeting", "bp"]
