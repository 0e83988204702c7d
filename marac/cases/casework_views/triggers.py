"""Orders and events that trigger a risk review: recording one, and recording that its review was done."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask_login import current_user

from marac import db
from marac.access import Permission, require
from marac.auth.models import User
from marac.cases import plans
from marac.cases.casework_forms import CompleteReviewForm, TriggerForm
from marac.cases.casework_views.blueprint import bp
from marac.cases.casework_views.common import (
    Page,
    error_message,
    form_status,
    load,
    owner_label,
    owners,
    require_change,
    working,
)
from marac.cases.casework_views.plans import render_plans
from marac.cases.services import CaseView
from marac.forms import add_error, error_list


def _trigger_error_field(form: TriggerForm, message: str) -> Any:
    lowered = message.lower()
    if "owner" in lowered or "who will" in lowered:
        return form.review_owner
    if "date" in lowered:
        return form.occurred_on
    if "note" in lowered:
        return form.note
    return form.kind


def _record(form: TriggerForm, view: CaseView, candidates: list[User]) -> bool:
    """Record the trigger the form describes; errors go on the form. True when recorded."""
    owner = next((u for u in candidates if u.public_id == form.review_owner.data), None)
    try:
        if form.review_owner.data and owner is None:
            raise plans.PlanError("Select who will do the review from the list")
        plans.record_trigger(
            current_user,
            view.case,
            view.relations,
            kind=form.kind.data or "",
            occurred_on=form.occurred_on.data or date.min,
            note=form.note.data,
            review_owner=owner,
        )
    except plans.PlanError as exc:
        add_error(_trigger_error_field(form, str(exc)), str(exc))
        return False
    return True


@bp.route("/cases/<pid:public_id>/triggers/new", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def new_trigger(public_id: str) -> Page:
    """Record an order or event that should prompt a risk review."""
    view = working(public_id, "case.trigger_record")
    candidates = owners(view.case)
    form = TriggerForm()
    form.review_owner.choices = [("", "Default")] + [(u.public_id, owner_label(u)) for u in candidates]
    if form.validate_on_submit() and _record(form, view, candidates):
        db.session.commit()
        flash("Recorded. The risk review is now due.", "success")
        return redirect(url_for("casework.plans_page", public_id=public_id))
    db.session.commit()
    return render_template("casework/trigger_form.html", form=form, view=view, errors=error_list(form)), form_status()


@bp.route("/cases/<pid:public_id>/triggers/<pid:event_id>/complete", methods=["POST"])
@require(Permission.CASE_WRITE)
def complete_trigger_review(public_id: str, event_id: str) -> Page:
    """Record that a trigger's risk review was done."""
    view = load(public_id)
    event = plans.find_case_event(view.case, event_id)
    if event is None:
        abort(404)
    require_change(view, event.review_owner_id, "case.trigger_review", public_id)
    form = CompleteReviewForm()
    message = error_message(form, "Say what the review found")
    if message is None:
        try:
            plans.complete_review(current_user, event, view.relations, form.note.data or "")
        except plans.PlanError as exc:
            message = str(exc)
    if message is not None:
        db.session.rollback()
        return render_plans(load(public_id), [{"text": message, "href": f"#event-{event_id}"}])
    db.session.commit()
    flash("Risk review recorded.", "success")
    return redirect(url_for("casework.plans_page", public_id=public_id))
