"""Agency research: the representative's list of meetings, their agency's requests for one meeting, answering one
request, and the coordinator's grid of agencies by cases with reminders."""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import Permission, can_manage_meeting, require
from marac.cases.services import audit_unreadable
from marac.forms import add_error, error_list
from marac.meetings import services
from marac.meetings.forms_research import RemindForm, ResearchAnswerForm
from marac.meetings.models import Meeting, ResearchRequest
from marac.meetings.services import research
from marac.meetings.views.blueprint import bp
from marac.meetings.views.common import audit_view, managed_meeting_or_404, meeting_or_404

Page = str | tuple[str, int] | Response


@bp.route("/research")
@require(Permission.RESEARCH_ANSWER)
def research_index() -> str:
    """The representative's meetings: "N cases for the meeting on D, research due by T", overdue ones marked."""
    page = render_template(
        "meetings/research_index.html", rows=research.agency_research_lists(current_user), to_local=services.to_local
    )
    db.session.commit()
    return page


@bp.route("/meetings/<pid:public_id>/research")
@require(Permission.RESEARCH_ANSWER)
def research_requests(public_id: str) -> str:
    """The agency's research requests for one meeting: each case, its people, and whether it is answered."""
    meeting = meeting_or_404(public_id)
    rows = research.agency_requests(current_user, meeting)
    audit_view(meeting, "research_requests", cases=len(rows))
    audit_unreadable(current_user)
    page = render_template(
        "meetings/research_requests.html",
        meeting=meeting,
        rows=rows,
        outstanding=sum(r.request.is_outstanding for r in rows),
        labels=research.STATUS_LABELS,
        to_local=services.to_local,
    )
    db.session.commit()
    return page


def _request_or_404(public_id: str) -> ResearchRequest:
    found = research.load_request_for(current_user, public_id)
    if found is None:
        abort(404)
    return found


def _save(form: ResearchAnswerForm, found: ResearchRequest) -> bool:
    """Record the answer the form holds; a refusal goes on its field. True when saved."""
    try:
        research.answer_research(
            current_user,
            found,
            facts=form.facts.data,
            opinion=form.opinion.data,
            withheld=form.withheld.data,
            withheld_reason=form.withheld_reason.data,
            nothing_held=bool(form.nothing_held.data),
        )
    except research.ResearchError as exc:
        add_error(getattr(form, exc.field or "facts"), str(exc))
        return False
    return True


@bp.route("/research/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.RESEARCH_ANSWER)
def answer_research(public_id: str) -> Page:
    """Give the agency's research on one case: facts and opinion apart, what is withheld and why, or nothing held."""
    found = _request_or_404(public_id)
    form = ResearchAnswerForm(obj=None if request.method == "POST" else found)
    if request.method == "GET":
        form.nothing_held.data = found.status == "nothing_held"
    if form.validate_on_submit() and _save(form, found):
        db.session.commit()
        flash(f"Research saved for case {found.item.case.reference}.", "success")
        return redirect(url_for("meetings.research_requests", public_id=found.item.meeting.public_id))
    audit.record("research.view", object_type="research_request", object_id=found.public_id)
    audit_unreadable(current_user)
    page = render_template(
        "meetings/research_answer.html",
        row=research.describe_request(current_user, found),
        meeting=found.item.meeting,
        form=form,
        closed=research.research_problem(found),
        errors=error_list(form),
        to_local=services.to_local,
    )
    db.session.commit()
    return (page, 400) if request.method == "POST" else page


def _grid_meeting_or_404(public_id: str) -> Meeting:
    meeting = meeting_or_404(public_id)
    if not research.may_see_grid(current_user, meeting):
        audit.record_denial("research.grid", object_type="meeting", object_id=public_id, reason="not_coordinator")
        abort(404)
    return meeting


def _grid(meeting: Meeting, errors: list[dict[str, str]] | None = None) -> tuple[str, int]:
    grid = research.research_grid(current_user, meeting)
    audit_view(meeting, "research_grid", cases=len(grid.items), outstanding=grid.outstanding)
    page = render_template(
        "meetings/research_grid.html",
        meeting=meeting,
        grid=grid,
        form=RemindForm(formdata=None),
        may_remind=can_manage_meeting(current_user, meeting),
        labels=research.STATUS_LABELS,
        to_local=services.to_local,
        errors=errors or [],
    )
    db.session.commit()
    return page, 400 if errors else 200


@bp.route("/meetings/<pid:public_id>/research-grid")
@require(Permission.MEETING_VIEW)
def research_grid(public_id: str) -> tuple[str, int]:
    """Agencies by cases: each agency's research status per case, what is outstanding, and reminders."""
    return _grid(_grid_meeting_or_404(public_id))


@bp.route("/meetings/<pid:public_id>/research-grid/remind", methods=["POST"])
@require(Permission.MEETING_MANAGE)
def send_reminders(public_id: str) -> Page:
    """Remind the representatives of agencies with research outstanding (all of them, or those ticked)."""
    meeting = managed_meeting_or_404(public_id)
    if not RemindForm().validate_on_submit():
        abort(400)
    chosen = set(request.form.getlist("agency"))
    agency_ids = None
    if chosen:
        asked = {row.agency.public_id: row.agency.id for row in research.research_grid(current_user, meeting).rows}
        if not chosen <= set(asked):
            return _grid(meeting, [{"text": "Select agencies from the list", "href": "#remind"}])
        agency_ids = {asked[p] for p in chosen}
    try:
        sent = research.send_reminders(current_user, meeting, agency_ids)
    except research.ResearchError as exc:
        db.session.rollback()
        return _grid(managed_meeting_or_404(public_id), [{"text": str(exc), "href": "#remind"}])
    db.session.commit()
    flash(_reminded_message(sent), "success")
    return redirect(url_for("meetings.research_grid", public_id=public_id))


def _reminded_message(sent: research.Reminders) -> str:
    agencies = "1 agency" if sent.agencies == 1 else f"{sent.agencies} agencies"
    people = "1 representative" if sent.messages == 1 else f"{sent.messages} representatives"
    message = f"Reminded {agencies}: {people} sent a reminder."
    if sent.unreached:
        message += f" No representative to remind at {', '.join(sent.unreached)}: contact them another way."
    return message
