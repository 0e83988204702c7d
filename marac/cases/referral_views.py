"""The referral journey pages: start, people, risk assessment, details, check your answers, submit."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import (
    SENSITIVITY_LABELS,
    CaseRelation,
    Permission,
    can_act_on_case,
    can_open_case_in,
    disclosed_parts,
    require,
    user_area_ids,
)
from marac.cases import referrals, risk
from marac.cases.criteria import criteria_labels, evaluate
from marac.cases.models import PARTY_ROLE_LABELS, PRE_SUBMISSION, Case, CaseStatus, Referral, RiskAssessment
from marac.cases.questionnaires import active_questionnaire, questions_of
from marac.cases.referral_forms import (
    QUESTION_PREFIX,
    AssessmentBase,
    DetailsForm,
    StartReferralForm,
    SubmitReferralForm,
    assessment_form,
)
from marac.cases.services import CaseView, audit_unreadable, load_case_for
from marac.forms import add_error, error_list
from marac.orgs.models import Area
from marac.people.models import RELATIONSHIP_LABELS
from marac.people.records import field_rows, name_from
from marac.people.services import PersonError, find_candidates, identifiers_of

bp = Blueprint("referrals", __name__)
Page = str | tuple[str, int] | Response
QUESTIONNAIRE = "dash-ric"
#: Where each submission problem is put right (anchors on the check-your-answers page).
PROBLEM_ANCHORS = (("risk assessment", "assessment"), ("perpetrator", "people"), ("consent", "details"))


def _areas() -> list[Area]:
    ids = user_area_ids(current_user)
    return list(db.session.scalars(select(Area).where(Area.id.in_(ids), Area.is_active).order_by(Area.name)))


def _load(public_id: str) -> CaseView:
    """The case, for its referring agency only (404 for anyone else, audited)."""
    view = load_case_for(current_user, public_id)
    if view is None:
        abort(404)
    if CaseRelation.REFERRING_AGENCY not in view.relations or not can_act_on_case(view.relations):
        audit.record_denial("referral.view", object_type="case", object_id=public_id, reason="not_referring_agency")
        abort(404)
    return view


def _submitted(view: CaseView) -> Response | None:
    """A submitted referral can no longer be changed: its journey pages go to the case page."""
    if view.case.status in PRE_SUBMISSION:
        return None
    db.session.commit()  # the case view was audited
    flash(f"Referral {view.case.reference} has been submitted: it can no longer be changed.", "info")
    return redirect(url_for("cases.view", public_id=view.case.public_id))


def _referral(case: Case) -> Referral:
    found = db.session.scalar(select(Referral).where(Referral.case_id == case.id))
    if found is None:
        abort(404)  # a case opened directly, not through a referral
    return found


def _assessment(case: Case) -> RiskAssessment | None:
    """The case's newest risk assessment, draft or complete."""
    return db.session.scalar(
        select(RiskAssessment)
        .where(RiskAssessment.case_id == case.id)
        .order_by(RiskAssessment.created_at.desc(), RiskAssessment.id.desc())
        .limit(1)
    )


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


@bp.route("/referrals/")
@require(Permission.CASE_WRITE)
def index() -> str:
    """Your agency's referrals in progress: drafts and those returned by the supervisor."""
    rows = referrals.agency_drafts(current_user)
    page = render_template("referrals/index.html", rows=rows, returned=CaseStatus.RETURNED.value)
    audit_unreadable(current_user)
    db.session.commit()
    return page


@bp.route("/referrals/new", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def new() -> Page:
    """Start a referral: the area and the victim's details."""
    form = StartReferralForm()
    areas = _areas()
    form.area.choices = [("", "Select")] + [(a.public_id, a.name) for a in areas]
    if form.validate_on_submit():
        area = next((a for a in areas if a.public_id == form.area.data), None)
        if area is None or not can_open_case_in(current_user, area):
            add_error(form.area, "Select an area you work in: you cannot refer to that one")
        else:
            try:
                case = referrals.start_referral(current_user, area=area, victim=form.details())
            except referrals.ReferralError as exc:
                db.session.rollback()
                add_error(form.date_of_birth, str(exc))
            except PersonError as exc:
                db.session.rollback()
                add_error(form.given_name, str(exc))
            else:
                db.session.commit()
                flash(
                    f"Referral {case.reference} started. Add the perpetrator and complete the risk assessment.",
                    "success",
                )
                return redirect(url_for("referrals.task_list", public_id=case.public_id))
    status = 400 if request.method == "POST" else 200
    return render_template("referrals/new.html", form=form, errors=error_list(form)), status


def _may_have_live_case(view: CaseView) -> bool:
    """Whether the victim is, or may be, the victim of another case still in progress or open."""
    victim = view.case.victim
    if referrals.live_episodes(victim, exclude=view.case):
        return True
    found = find_candidates(current_user, identifiers_of(victim), exclude=victim, audit_search=False)
    if not found:
        return False
    live = select(Case.id).where(
        Case.victim_id.in_([c.person_id for c in found]), Case.status.in_(referrals.LIVE), Case.id != view.case.id
    )
    return db.session.scalar(live.limit(1)) is not None


@bp.route("/referrals/<pid:public_id>")
@require(Permission.CASE_WRITE)
def task_list(public_id: str) -> Page:
    """The referral's tasks and how far each has got."""
    view = _load(public_id)
    if (gone := _submitted(view)) is not None:
        return gone
    referral = _referral(view.case)
    page = render_template(
        "referrals/task_list.html",
        view=view,
        case=view.case,
        referral=referral,
        return_comments=_text(referral.return_comments),
        assessment=_assessment(view.case),
        live_case=_may_have_live_case(view),
        role_labels={r.value: label for r, label in PARTY_ROLE_LABELS.items()},
        relationship_labels={r.value: label for r, label in RELATIONSHIP_LABELS.items()},
        grade_labels=risk.GRADE_LABELS,
        has_details=referral.step == "details",
    )
    audit_unreadable(current_user)
    db.session.commit()
    return page


def _definition(assessment: RiskAssessment | None) -> dict[str, Any]:
    if assessment is not None:
        return dict(assessment.questionnaire.definition)
    questionnaire = active_questionnaire(QUESTIONNAIRE)
    if questionnaire is None:
        abort(409)  # no risk questionnaire loaded: an administrator loads the built-in ones
    return dict(questionnaire.definition)


def _saved_data(assessment: RiskAssessment | None) -> dict[str, Any]:
    if assessment is None:
        return {}
    data: dict[str, Any] = {QUESTION_PREFIX + k: v for k, v in risk.answers_of(assessment).items()}
    data["fears_text"] = _text(assessment.fears) or ""
    return data


def _render_assessment(view: CaseView, form: AssessmentBase, assessment: RiskAssessment | None, status: int) -> Page:
    definition = _definition(assessment)
    saved = risk.answers_of(assessment) if assessment is not None else {}
    page = render_template(
        "referrals/assessment.html",
        case=view.case,
        form=form,
        assessment=assessment,
        prompts=risk.prompts(definition, saved),
        free_text_key=next((q["key"] for q in questions_of(definition) if q.get("free_text")), None),
        grade_labels=risk.GRADE_LABELS,
        errors=error_list(form),
    )
    audit_unreadable(current_user)
    db.session.commit()
    return page, status


@bp.route("/referrals/<pid:public_id>/assessment", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def assessment(public_id: str) -> Page:
    """The risk assessment with the victim: save and come back later, or complete it."""
    view = _load(public_id)
    if (gone := _submitted(view)) is not None:
        return gone
    current = _assessment(view.case)
    if request.method == "GET":
        form = assessment_form(_definition(current), data=_saved_data(current))
        return _render_assessment(view, form, current, 200)
    form = assessment_form(_definition(current))
    if current is not None and current.status == risk.COMPLETE:
        add_error(form.complete, "This assessment is complete and can no longer be changed")
    elif form.validate_on_submit():
        return _save_assessment(view, form, current)
    return _render_assessment(view, form, current, 400)


def _save_assessment(view: CaseView, form: AssessmentBase, current: RiskAssessment | None) -> Page:
    if current is None:
        questionnaire = active_questionnaire(QUESTIONNAIRE)
        if questionnaire is None:
            abort(409)
        current = risk.start_assessment(current_user, view.case, questionnaire)
    definition = _definition(current)
    has_free_text = any(q.get("free_text") for q in questions_of(definition))
    try:
        risk.save_answers(
            current_user, current, form.answers(), (form.fears_text.data or "") if has_free_text else None
        )
        if form.complete.data:
            risk.complete_assessment(
                current_user,
                current,
                view.case.area,
                raise_to_high=bool(form.raise_to_high.data),
                judgement_reasons=form.judgement_reasons.data,
            )
    except risk.RiskError as exc:
        db.session.commit()  # the answers given are saved even when the assessment cannot be completed yet
        _attach_risk_error(form, exc)
        return _render_assessment(view, form, current, 400)
    db.session.commit()
    if current.status == risk.COMPLETE:
        grade = risk.GRADE_LABELS.get(current.grade or "", current.grade)
        flash(f"Risk assessment completed: score {current.score}, grade {grade}.", "success")
        return redirect(url_for("referrals.task_list", public_id=view.case.public_id))
    flash("Your answers have been saved. You can come back to them later.", "success")
    return redirect(url_for("referrals.assessment", public_id=view.case.public_id))


def _attach_risk_error(form: AssessmentBase, exc: risk.RiskError) -> None:
    if not exc.missing:
        add_error(form.judgement_reasons if "reason" in str(exc).lower() else form.complete, str(exc))
        return
    for question, field in form.question_fields():
        if question["key"] in exc.missing:
            add_error(field, f"Select an answer: {question['text']}")


@bp.route("/referrals/<pid:public_id>/details", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def details(public_id: str) -> Page:
    """Consent, safe contact, who the victim fears, previous MARACs and professional judgement."""
    view = _load(public_id)
    if (gone := _submitted(view)) is not None:
        return gone
    referral = _referral(view.case)
    form = DetailsForm(data=_details_data(referral) if request.method == "GET" else None)
    if form.validate_on_submit():
        found = referrals.ReferralDetails(
            consent=form.consent.data or None,
            no_consent_reason=form.no_consent_reason.data,
            is_safe_to_call=form.safe_to_call(),
            safe_contact=form.safe_contact.data,
            unsafe_contacts=form.unsafe_contacts.data,
            previous_marac=form.previous_marac.data,
            judgement_reasons=form.judgement_reasons.data,
        )
        try:
            referrals.save_details(current_user, view.case, view.relations, found, step="details")
        except referrals.ReferralError as exc:
            add_error(form.consent, str(exc))
        else:
            db.session.commit()
            flash("Referral details saved.", "success")
            return redirect(url_for("referrals.task_list", public_id=view.case.public_id))
    page = render_template("referrals/details.html", case=view.case, form=form, errors=error_list(form))
    audit_unreadable(current_user)
    db.session.commit()
    return page, 400 if request.method == "POST" else 200


def _details_data(referral: Referral) -> dict[str, Any]:
    safe = None if referral.is_safe_to_call is None else ("yes" if referral.is_safe_to_call else "no")
    data: dict[str, Any] = {"consent": referral.consent, "is_safe_to_call": safe}
    for name in ("no_consent_reason", "safe_contact", "unsafe_contacts", "previous_marac", "judgement_reasons"):
        data[name] = _text(getattr(referral, name)) or ""
    return data


def _problem_errors(problems: list[str]) -> list[dict[str, str]]:
    def anchor(problem: str) -> str:
        lowered = problem.lower()
        return next((a for words, a in PROBLEM_ANCHORS if words in lowered), "details")

    return [{"text": p, "href": f"#{anchor(p)}"} for p in problems]


def _render_check(view: CaseView, form: SubmitReferralForm, errors: list[dict[str, str]], status: int) -> Page:
    case = view.case
    referral = _referral(case)
    parts = disclosed_parts(current_user, view.relations, [case.id])
    rows = {
        pv.party.id: field_rows(current_user, pv.person, view.relations, pv.party.role, parts) for pv in view.parties
    }
    page = render_template(
        "referrals/check.html",
        view=view,
        case=case,
        referral=referral,
        form=form,
        errors=errors,
        problems=referrals.submission_problems(case, referral),
        assessment=referrals.latest_assessment(case),
        criteria=evaluate(case, on=db.london_today()),
        criteria_labels=criteria_labels,
        rows=rows,
        names={party_id: name_from(r) for party_id, r in rows.items()},
        sensitivity_labels=SENSITIVITY_LABELS,
        role_labels={r.value: label for r, label in PARTY_ROLE_LABELS.items()},
        relationship_labels={r.value: label for r, label in RELATIONSHIP_LABELS.items()},
        grade_labels=risk.GRADE_LABELS,
        text=_text,
    )
    audit_unreadable(current_user)
    db.session.commit()
    return page, status


@bp.route("/referrals/<pid:public_id>/check", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def check(public_id: str) -> Page:
    """Check your answers, see the criteria met, and submit for the supervisor's sign-off."""
    view = _load(public_id)
    if (gone := _submitted(view)) is not None:
        return gone
    form = SubmitReferralForm()
    if request.method == "GET":
        return _render_check(view, form, [], 200)
    if not form.validate_on_submit():
        return _render_check(view, form, error_list(form), 400)
    problems = referrals.submission_problems(view.case, _referral(view.case))
    if problems:
        return _render_check(view, form, _problem_errors(problems), 400)
    try:
        referrals.submit_referral(current_user, view.case, view.relations)
    except referrals.ReferralError as exc:
        return _render_check(view, form, [{"text": str(exc), "href": "#details"}], 400)
    db.session.commit()
    flash(f"Referral {view.case.reference} submitted. Your supervisor will check it and sign it off.", "success")
    return redirect(url_for("referrals.index"))
