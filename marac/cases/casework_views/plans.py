"""Safety plans: the plans page (with trigger reviews), and making, reviewing and ending a plan."""

from __future__ import annotations

from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from marac import audit, db
from marac.access import Permission, can_act_on_case, can_change_case_work, disclosed_parts, require
from marac.auth.models import User
from marac.cases import plans
from marac.cases.casework_forms import CompleteReviewForm, EndPlanForm, ReviewPlanForm, SafetyPlanForm
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
from marac.cases.models import SafetyPlan
from marac.cases.services import CaseView, audit_unreadable
from marac.forms import add_error, error_list


def _plan_of(view: CaseView, plan_id: str) -> SafetyPlan:
    plan = plans.find_safety_plan(view.case, plan_id)
    if plan is None:
        abort(404)
    return plan


def render_plans(view: CaseView, errors: list[dict[str, str]]) -> Any:
    """The plans page, with `errors` (400) when an action on it failed."""
    page = render_template(
        "casework/plans.html",
        view=view,
        plans=[
            (p, plans.describe_measures(p.measures), plans.plan_history(p)) for p in plans.case_safety_plans(view.case)
        ],
        triggers=plans.trigger_events(view.case),
        can_act=can_act_on_case(view.relations),
        may_change=lambda owner_id: can_change_case_work(current_user, view.relations, owner_id),
        event_labels=plans.EVENT_LABELS,
        today=db.london_today(),
        end_form=EndPlanForm(formdata=None),
        complete_form=CompleteReviewForm(formdata=None),
        errors=errors,
    )
    audit_unreadable(current_user)
    db.session.commit()
    return (page, 400) if errors else page


@bp.route("/cases/<pid:public_id>/plans")
@require(Permission.CASE_READ)
def plans_page(public_id: str) -> str:
    """The case's safety plans with their history, and the risk reviews its triggers made due."""
    view = load(public_id)
    parts = disclosed_parts(current_user, view.relations, [view.case.id])
    if parts is not None and "risk" not in parts:  # a disclosure that did not include risk information
        audit.record_denial("case.plans", object_type="case", object_id=public_id, reason="not_disclosed")
        abort(404)
    return render_plans(view, [])


def plan_error_field(form: Any, message: str) -> Any:
    """The form field a plan service error belongs on."""
    lowered = message.lower()
    if "owner" in lowered:
        return form.owner
    if "review date" in lowered or "6 months" in lowered:
        return getattr(form, "review_on", None) or form.next_review_on
    if "other" in lowered:
        return form.other
    if "detail" in lowered:
        return form.detail
    return form.measures


def _create(form: SafetyPlanForm, view: CaseView, candidates: list[User]) -> bool:
    """Make the plan the form describes; errors go on the form. True when made."""
    owner = next((u for u in candidates if u.public_id == form.owner.data), None)
    try:
        if owner is None:
            raise plans.PlanError("Select an owner from the list")
        plans.create_safety_plan(
            current_user,
            view.case,
            view.relations,
            owner=owner,
            measures=list(form.measures.data or []),
            detail=form.detail.data,
            review_on=form.review_on.data,
            other=form.other.data,
        )
    except plans.PlanError as exc:
        add_error(plan_error_field(form, str(exc)), str(exc))
        return False
    return True


@bp.route("/cases/<pid:public_id>/safety-plans/new", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def new_plan(public_id: str) -> Page:
    """Make a safety plan: measures, detail, a named owner and a review date."""
    view = working(public_id, "safety_plan.create")
    candidates = owners(view.case)
    form = SafetyPlanForm()
    form.owner.choices = [(u.public_id, owner_label(u)) for u in candidates]
    if request.method == "GET":
        form.owner.data = current_user.public_id
    if form.validate_on_submit() and _create(form, view, candidates):
        db.session.commit()
        flash("Safety plan made.", "success")
        return redirect(url_for("casework.plans_page", public_id=public_id))
    db.session.commit()
    return render_template(
        "casework/plan_form.html", form=form, view=view, plan=None, errors=error_list(form)
    ), form_status()


def _fill_review_form(form: ReviewPlanForm, plan: SafetyPlan) -> None:
    """Start the review form from the plan's measures and detail as they stand."""
    stored = plan.measures if isinstance(plan.measures, list) else []
    form.measures.data = [m.partition(":")[0] for m in stored]
    form.other.data = next((m.partition(":")[2] for m in stored if m.startswith(f"{plans.OTHER}:")), "")
    form.detail.data = plan.detail if isinstance(plan.detail, str) else ""


def _review(form: ReviewPlanForm, plan: SafetyPlan, view: CaseView) -> bool:
    """Record the review the form describes; errors go on the form. True when recorded."""
    try:
        plans.review_safety_plan(
            current_user,
            plan,
            view.relations,
            measures=list(form.measures.data or []),
            detail=form.detail.data,
            next_review_on=form.next_review_on.data,
            other=form.other.data,
        )
    except plans.PlanError as exc:
        add_error(plan_error_field(form, str(exc)), str(exc))
        return False
    return True


@bp.route("/cases/<pid:public_id>/safety-plans/<pid:plan_id>/review", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def review_plan(public_id: str, plan_id: str) -> Page:
    """Review a safety plan: the measures as they now stand and the next review date."""
    view = load(public_id)
    plan = _plan_of(view, plan_id)
    require_change(view, plan.owner_id, "safety_plan.review", public_id)
    form = ReviewPlanForm()
    if request.method == "GET":
        _fill_review_form(form, plan)
    if form.validate_on_submit() and _review(form, plan, view):
        db.session.commit()
        flash("Safety plan review recorded.", "success")
        return redirect(url_for("casework.plans_page", public_id=public_id))
    db.session.commit()
    return render_template(
        "casework/plan_form.html", form=form, view=view, plan=plan, errors=error_list(form)
    ), form_status()


@bp.route("/cases/<pid:public_id>/safety-plans/<pid:plan_id>/end", methods=["POST"])
@require(Permission.CASE_WRITE)
def end_plan(public_id: str, plan_id: str) -> Page:
    """End a safety plan with the reason."""
    view = load(public_id)
    plan = _plan_of(view, plan_id)
    require_change(view, plan.owner_id, "safety_plan.end", public_id)
    form = EndPlanForm()
    message = error_message(form, "Say why the plan is ending")
    if message is None:
        try:
            plans.end_safety_plan(current_user, plan, view.relations, reason=form.reason.data or "")
        except plans.PlanError as exc:
            message = str(exc)
    if message is not None:
        db.session.rollback()
        return render_plans(load(public_id), [{"text": message, "href": f"#plan-{plan_id}"}])
    db.session.commit()
    flash("Safety plan ended.", "success")
    return redirect(url_for("casework.plans_page", public_id=public_id))
