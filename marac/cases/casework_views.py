"""Sign-off, the coordinator's queue and decisions, safety plans, triggers and overdue lists."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import (
    CaseRelation,
    Permission,
    Role,
    can_act_on_case,
    can_change_case_work,
    can_decide_referral,
    can_own_case_work,
    can_sign_off,
    require,
    sees_area_overdue,
    user_area_ids,
)
from marac.auth.models import User, UserRole
from marac.cases import plans, referrals
from marac.cases.casework_forms import (
    CompleteReviewForm,
    DecisionForm,
    EndPlanForm,
    ReviewPlanForm,
    SafetyPlanForm,
    SignOffForm,
    TriggerForm,
)
from marac.cases.criteria import criteria_labels, evaluate
from marac.cases.models import Case, CaseEvent, CaseStatus, PartyRole, Referral, RiskAssessment, SafetyPlan
from marac.cases.overdue import area_overdue, my_overdue
from marac.cases.services import CaseView, audit_unreadable, load_case_for
from marac.forms import add_error, error_list
from marac.people.flags import repeat_flag
from marac.people.models import Person
from marac.people.records import field_rows, name_from

bp = Blueprint("casework", __name__)
Page = str | tuple[str, int] | Response
CONSENT_LABELS = {
    "given": "The victim knows and consents",
    "refused": "The victim refused consent",
    "not_sought": "Consent not sought",
}


def _status() -> int:
    return 400 if request.method == "POST" else 200


def _person_name(person: Person, relations: frozenset[CaseRelation], role: str) -> str:
    return name_from(field_rows(current_user, person, relations, role))


@dataclass
class Waiting:
    """A referral in a list: the case, its referral, how long it has waited, its grade and flags."""

    case: Case
    referral: Referral
    days_waiting: int
    criteria: list[str]
    grade: str | None
    is_repeat: bool = False


def _grade(case: Case) -> str | None:
    assessment = referrals.latest_assessment(case)
    return assessment.grade if assessment is not None else None


def _waiting(item: referrals.QueueItem) -> Waiting:
    case = item.case
    is_repeat = repeat_flag(case.victim, case.referred_on, exclude_case=case).is_repeat
    return Waiting(case, item.referral, item.days_waiting, item.criteria, _grade(case), is_repeat)


# --- sign-off ------------------------------------------------------------------------------------------------------


def _awaiting_sign_off(actor: Any) -> list[Waiting]:
    """Referrals of the actor's agency waiting for sign-off, oldest first."""
    rows = db.session.execute(
        select(Case, Referral)
        .join(Referral, Referral.case_id == Case.id)
        .where(Case.status == CaseStatus.AWAITING_SIGN_OFF.value, Case.referring_agency_id == actor.agency_id)
        .order_by(Referral.submitted_at.asc().nulls_last(), Case.id)
    ).all()
    today = db.london_today()
    items = []
    for case, referral in rows:
        since = (referral.submitted_at or case.created_at).astimezone(db.LONDON).date()
        criteria = [c for c in referral.criteria.split(",") if c]
        items.append(Waiting(case, referral, (today - since).days, criteria, _grade(case)))
    return items


@bp.route("/sign-off")
@require(Permission.REFERRAL_SIGN_OFF)
def sign_off_list() -> str:
    """Referrals of the supervisor's agency waiting for sign-off, oldest first."""
    items = _awaiting_sign_off(current_user)
    audit.record("referral.sign_off_list", actor=current_user, object_type="case", details={"shown": len(items)})
    db.session.commit()
    return render_template("casework/sign_off_list.html", items=items, labels=criteria_labels)


def _summary(view: CaseView) -> dict[str, Any]:
    """What a supervisor or coordinator reads before deciding: people, assessment, criteria and consent."""
    case = view.case
    referral = db.session.scalar(select(Referral).where(Referral.case_id == case.id))
    if referral is None:
        abort(404)
    assessment: RiskAssessment | None = referrals.latest_assessment(case)
    parties = [
        (pv.party.role, _person_name(pv.person, view.relations, pv.party.role))
        for pv in view.parties
        if pv.party.role != PartyRole.VICTIM.value
    ]
    return {
        "view": view,
        "referral": referral,
        "victim_name": _person_name(case.victim, view.relations, PartyRole.VICTIM.value),
        "parties": parties,
        "assessment": assessment,
        "criteria": evaluate(case, on=case.referred_on),
        "met": [c for c in referral.criteria.split(",") if c],
        "labels": criteria_labels,
        "consent_labels": CONSENT_LABELS,
    }


def _load(public_id: str) -> CaseView:
    view = load_case_for(current_user, public_id)
    if view is None:
        abort(404)
    return view


@bp.route("/sign-off/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.REFERRAL_SIGN_OFF)
def sign_off(public_id: str) -> Page:
    """A referral's summary and the supervisor's choice: sign it off, or return it to the referrer with comments."""
    view = _load(public_id)
    case = view.case
    refusal, status = None, 200
    if not can_sign_off(current_user, case, case.referred_by_id):
        refusal, status = "You cannot sign off this referral: another supervisor at the referring agency must.", 403
        audit.record_denial("referral.sign_off", object_type="case", object_id=public_id, reason="not_signer")
    elif case.status != CaseStatus.AWAITING_SIGN_OFF.value:
        refusal, status = "This referral is not waiting for sign-off.", _status()
    form = SignOffForm()
    if refusal is not None:
        summary = _summary(view)
        audit_unreadable(current_user)
        db.session.commit()
        return render_template("casework/sign_off.html", form=None, refusal=refusal, errors=[], **summary), status
    if form.validate_on_submit():
        try:
            if form.decision.data == "sign_off":
                referrals.sign_off(current_user, case)
                message = f"Referral {case.reference} signed off: it has gone to the MARAC coordinator."
            else:
                referrals.return_referral(current_user, case, form.comments.data or "")
                message = f"Referral {case.reference} returned to the referrer with your comments."
        except referrals.ReferralError as exc:
            add_error(form.comments if form.decision.data == "return" else form.decision, str(exc))
        else:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("casework.sign_off_list"))
    summary = _summary(view)
    audit_unreadable(current_user)
    db.session.commit()
    return render_template(
        "casework/sign_off.html", form=form, refusal=None, errors=error_list(form), **summary
    ), _status()


# --- the coordinator's queue and decisions -------------------------------------------------------------------------


@bp.route("/queue")
@require(Permission.REFERRAL_DECIDE)
def queue() -> str:
    """Referrals in the coordinator's areas waiting for a decision (oldest first) and those still with supervisors."""
    deciding = [_waiting(i) for i in referrals.coordinator_queue(current_user)]
    signing = [
        _waiting(i) for i in referrals.coordinator_queue(current_user, status=CaseStatus.AWAITING_SIGN_OFF.value)
    ]
    audit.record(
        "referral.queue", actor=current_user, object_type="case", details={"shown": len(deciding) + len(signing)}
    )
    db.session.commit()
    return render_template("casework/queue.html", deciding=deciding, signing=signing, labels=criteria_labels)


def _decision_choices(form: DecisionForm, view: CaseView) -> tuple[list[referrals.Caseload], list[Case]]:
    caseloads = referrals.idva_caseloads(view.case.area)
    duplicates = referrals.live_episodes(view.case.victim, exclude=view.case)
    form.idva.choices = [("", "Allocate later")] + [
        (c.idva.public_id, f"{c.idva.display_name} — {c.open_cases} open case{'' if c.open_cases == 1 else 's'}")
        for c in caseloads
    ]
    form.duplicate_of.choices = [
        (c.public_id, f"{c.reference}, referred {c.referred_on:%-d %b %Y} ({c.status.replace('_', ' ')})")
        for c in duplicates
    ]
    return caseloads, duplicates


def _apply_decision(form: DecisionForm, view: CaseView, caseloads: list[referrals.Caseload], live: list[Case]) -> bool:
    """Call the service with the form's choice; errors go on the form. True when decided."""
    decision = form.decision.data or ""
    idva = next((c.idva for c in caseloads if c.idva.public_id == form.idva.data), None)
    duplicate = next((c for c in live if c.public_id == form.duplicate_of.data), None)
    if decision == "accepted" and form.idva.data and idva is None:
        add_error(form.idva, "Select an IDVA from the list")
        return False
    try:
        referrals.decide(
            current_user,
            view.case,
            view.relations,
            decision,
            reason=form.reason.data,
            signposting=form.signposting.data,
            duplicate_of=duplicate,
            idva=idva if decision == "accepted" else None,
        )
    except referrals.ReferralError as exc:
        field = {"below_threshold": form.signposting, "duplicate": form.duplicate_of}.get(decision, form.decision)
        add_error(field, str(exc))
        return False
    return True


@bp.route("/queue/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.REFERRAL_DECIDE)
def decide(public_id: str) -> Page:
    """Decide on a signed-off referral: accept (and allocate an IDVA), below threshold, or duplicate."""
    view = _load(public_id)
    form = DecisionForm()
    caseloads, live = _decision_choices(form, view)
    refusal, status = None, _status()
    if not can_decide_referral(view.relations):
        refusal, status = "Only the MARAC coordinator for this case's area can decide on it.", 403
        audit.record_denial("referral.decide", object_type="case", object_id=public_id, reason="not_decider")
    elif view.case.status != CaseStatus.AWAITING_DECISION.value:
        refusal = "This referral is not waiting for a decision."
    if refusal is None and form.validate_on_submit() and _apply_decision(form, view, caseloads, live):
        db.session.commit()
        flash(f"Decision on {view.case.reference} recorded.", "success")
        return redirect(url_for("casework.queue"))
    summary = _summary(view)
    audit_unreadable(current_user)
    db.session.commit()
    return render_template(
        "casework/decide.html",
        form=None if refusal else form,
        refusal=refusal,
        caseloads=caseloads,
        live=live,
        benchmark=referrals.CASELOAD_RANGE,
        errors=error_list(form),
        **summary,
    ), status


# --- overdue -------------------------------------------------------------------------------------------------------


@bp.route("/overdue")
@require(Permission.CASE_READ)
def overdue() -> str:
    """The user's overdue reviews and, for a coordinator, everything overdue in their areas."""
    mine = my_overdue(current_user)
    area = area_overdue(current_user) if sees_area_overdue(current_user) else None
    db.session.commit()
    return render_template("casework/overdue.html", mine=mine, area=area)


# --- safety plans and triggers -------------------------------------------------------------------------------------


def _working(public_id: str, action: str) -> CaseView:
    """The case for someone working on it: 404 when they may not see it, 403 (audited) when they may only read."""
    view = _load(public_id)
    if not can_act_on_case(view.relations):
        audit.record_denial(action, object_type="case", object_id=public_id, reason="read_only_relation")
        abort(403)
    return view


def _owners(case: Case) -> list[User]:
    """Who may be named to own work on the case: the current user, the assigned IDVA and the area's coordinators."""
    candidates: list[User] = [current_user._get_current_object()]
    if case.assigned_idva is not None:
        candidates.append(case.assigned_idva)
    coordinators = db.session.scalars(
        select(User)
        .join(UserRole)
        .where(UserRole.role == Role.COORDINATOR.value, User.is_active)
        .order_by(User.display_name)
    )
    candidates += [u for u in coordinators if case.area_id in user_area_ids(u)]
    seen: set[int] = set()
    owners = []
    for user in candidates:
        if user.id not in seen and can_own_case_work(user, case):
            seen.add(user.id)
            owners.append(user)
    return owners


def _owner_label(user: User) -> str:
    you = " (you)" if user.id == current_user.id else ""
    return f"{user.display_name}, {user.agency.name}{you}"


def _plan_of(view: CaseView, plan_id: str) -> SafetyPlan:
    plan = db.session.scalar(
        select(SafetyPlan).where(SafetyPlan.public_id == plan_id, SafetyPlan.case_id == view.case.id)
    )
    if plan is None:
        abort(404)
    return plan


@bp.route("/cases/<pid:public_id>/plans")
@require(Permission.CASE_READ)
def plans_page(public_id: str) -> str:
    """The case's safety plans with their history, and the risk reviews its triggers made due."""
    view = _load(public_id)
    return _render_plans(view, [])


def _render_plans(view: CaseView, errors: list[dict[str, str]]) -> Any:
    case = view.case
    all_plans = list(
        db.session.scalars(
            select(SafetyPlan).where(SafetyPlan.case_id == case.id).order_by(SafetyPlan.status, SafetyPlan.review_on)
        )
    )
    triggers = list(
        db.session.scalars(
            select(CaseEvent)
            .where(CaseEvent.case_id == case.id, CaseEvent.kind.in_(plans.TRIGGERS))
            .order_by(CaseEvent.reviewed_at.is_not(None), CaseEvent.review_due_on, CaseEvent.id)
        )
    )
    page = render_template(
        "casework/plans.html",
        view=view,
        plans=[(p, plans.describe_measures(p.measures), plans.plan_history(p)) for p in all_plans],
        triggers=triggers,
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


@bp.route("/cases/<pid:public_id>/safety-plans/new", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def new_plan(public_id: str) -> Page:
    """Make a safety plan: measures, detail, a named owner and a review date."""
    view = _working(public_id, "safety_plan.create")
    owners = _owners(view.case)
    form = SafetyPlanForm()
    form.owner.choices = [(u.public_id, _owner_label(u)) for u in owners]
    if request.method == "GET":
        form.owner.data = current_user.public_id
    if form.validate_on_submit():
        owner = next((u for u in owners if u.public_id == form.owner.data), None)
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
            add_error(_plan_error_field(form, str(exc)), str(exc))
        else:
            db.session.commit()
            flash("Safety plan made.", "success")
            return redirect(url_for("casework.plans_page", public_id=public_id))
    db.session.commit()
    return render_template(
        "casework/plan_form.html", form=form, view=view, plan=None, errors=error_list(form)
    ), _status()


def _plan_error_field(form: Any, message: str) -> Any:
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


@bp.route("/cases/<pid:public_id>/safety-plans/<pid:plan_id>/review", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def review_plan(public_id: str, plan_id: str) -> Page:
    """Review a safety plan: the measures as they now stand and the next review date."""
    view = _load(public_id)
    plan = _plan_of(view, plan_id)
    if not can_change_case_work(current_user, view.relations, plan.owner_id):
        audit.record_denial("safety_plan.review", object_type="case", object_id=public_id, reason="read_only_relation")
        abort(403)
    form = ReviewPlanForm()
    if request.method == "GET":
        stored = plan.measures if isinstance(plan.measures, list) else []
        form.measures.data = [m.partition(":")[0] for m in stored]
        form.other.data = next((m.partition(":")[2] for m in stored if m.startswith(f"{plans.OTHER}:")), "")
        form.detail.data = plan.detail if isinstance(plan.detail, str) else ""
    if form.validate_on_submit():
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
            add_error(_plan_error_field(form, str(exc)), str(exc))
        else:
            db.session.commit()
            flash("Safety plan review recorded.", "success")
            return redirect(url_for("casework.plans_page", public_id=public_id))
    db.session.commit()
    return render_template(
        "casework/plan_form.html", form=form, view=view, plan=plan, errors=error_list(form)
    ), _status()


@bp.route("/cases/<pid:public_id>/safety-plans/<pid:plan_id>/end", methods=["POST"])
@require(Permission.CASE_WRITE)
def end_plan(public_id: str, plan_id: str) -> Page:
    """End a safety plan with the reason."""
    view = _load(public_id)
    plan = _plan_of(view, plan_id)
    if not can_change_case_work(current_user, view.relations, plan.owner_id):
        audit.record_denial("safety_plan.end", object_type="case", object_id=public_id, reason="read_only_relation")
        abort(403)
    form = EndPlanForm()
    message = None
    if not form.validate_on_submit():
        message = next((str(e[0]) for e in form.errors.values() if e), "Say why the plan is ending")
    else:
        try:
            plans.end_safety_plan(current_user, plan, view.relations, reason=form.reason.data or "")
        except plans.PlanError as exc:
            message = str(exc)
    if message is not None:
        db.session.rollback()
        view = _load(public_id)
        return _render_plans(view, [{"text": message, "href": f"#plan-{plan_id}"}])
    db.session.commit()
    flash("Safety plan ended.", "success")
    return redirect(url_for("casework.plans_page", public_id=public_id))


@bp.route("/cases/<pid:public_id>/triggers/new", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def new_trigger(public_id: str) -> Page:
    """Record an order or event that should prompt a risk review."""
    view = _working(public_id, "case.trigger_record")
    owners = _owners(view.case)
    form = TriggerForm()
    form.review_owner.choices = [("", "Default")] + [(u.public_id, _owner_label(u)) for u in owners]
    if form.validate_on_submit():
        owner = next((u for u in owners if u.public_id == form.review_owner.data), None)
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
        else:
            db.session.commit()
            flash("Recorded. The risk review is now due.", "success")
            return redirect(url_for("casework.plans_page", public_id=public_id))
    db.session.commit()
    return render_template("casework/trigger_form.html", form=form, view=view, errors=error_list(form)), _status()


def _trigger_error_field(form: TriggerForm, message: str) -> Any:
    lowered = message.lower()
    if "owner" in lowered or "who will" in lowered:
        return form.review_owner
    if "date" in lowered:
        return form.occurred_on
    if "note" in lowered:
        return form.note
    return form.kind


@bp.route("/cases/<pid:public_id>/triggers/<pid:event_id>/complete", methods=["POST"])
@require(Permission.CASE_WRITE)
def complete_trigger_review(public_id: str, event_id: str) -> Page:
    """Record that a trigger's risk review was done."""
    view = _load(public_id)
    event = db.session.scalar(
        select(CaseEvent).where(CaseEvent.public_id == event_id, CaseEvent.case_id == view.case.id)
    )
    if event is None:
        abort(404)
    if not can_change_case_work(current_user, view.relations, event.review_owner_id):
        audit.record_denial("case.trigger_review", object_type="case", object_id=public_id, reason="read_only_relation")
        abort(403)
    form = CompleteReviewForm()
    message = None
    if not form.validate_on_submit():
        message = next((str(e[0]) for e in form.errors.values() if e), "Say what the review found")
    else:
        try:
            plans.complete_review(current_user, event, view.relations, form.note.data or "")
        except plans.PlanError as exc:
            message = str(exc)
    if message is not None:
        db.session.rollback()
        view = _load(public_id)
        return _render_plans(view, [{"text": message, "href": f"#event-{event_id}"}])
    db.session.commit()
    flash("Risk review recorded.", "success")
    return redirect(url_for("casework.plans_page", public_id=public_id))
