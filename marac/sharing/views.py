"""Sharing pages: disclosing a case, break-glass, and the DPO's disclosure and break-glass views."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import Permission, can_act_on_case, require
from marac.cases.services import CaseView, get_case, load_case_for
from marac.forms import add_error, error_list
from marac.orgs.models import Agency
from marac.sharing import services
from marac.sharing.forms import BarAccountForm, BreakGlassForm, ConfirmForm, DisclosureForm, ReviewForm

bp = Blueprint("sharing", __name__)
Page = str | tuple[str, int] | Response


def _status() -> int:
    return 400 if request.method == "POST" else 200


@bp.route("/cases/<pid:public_id>/disclose", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def disclose(public_id: str) -> Page:
    """Share a case, or part of it, with another agency, recording why it is lawful."""
    view = _working_view(public_id, "disclosure.create")
    agencies = list(
        db.session.scalars(
            select(Agency).where(Agency.is_active, Agency.id != current_user.agency_id).order_by(Agency.name)
        )
    )
    form = DisclosureForm()
    form.to_agency.choices = [("", "Select")] + [(a.public_id, a.name) for a in agencies]
    to_agency = next((a for a in agencies if a.public_id == form.to_agency.data), None)
    if form.validate_on_submit() and to_agency is None:
        own = form.to_agency.data == current_user.agency.public_id
        add_error(form.to_agency, "Choose another agency: not your own" if own else "Select an agency from the list")
    elif form.validate_on_submit() and to_agency is not None:
        try:
            disclosure = services.record_disclosure(
                current_user,
                view.case,
                view.relations,
                to_agency=to_agency,
                parts=list(form.parts.data or []),
                purpose=form.purpose.data or "",
                article6_basis=form.article6_basis.data or "",
                special_condition=form.special_condition.data or "",
                consent=form.consent.data or "",
                no_consent_reason=form.no_consent_reason.data,
            )
        except services.SharingError as exc:
            field = form.no_consent_reason if "consent" in str(exc).lower() else form.to_agency
            add_error(field, str(exc))
        else:
            db.session.commit()
            flash(f"Disclosure to {to_agency.name} recorded. Their practitioners can now see this case.", "success")
            if disclosure.barred_accounts:
                flash(
                    f"{disclosure.barred_accounts} account(s) at {to_agency.name} match someone on the case's "
                    "must-not-receive list and have been barred from the case."
                )
            return redirect(url_for("cases.view", public_id=public_id))
    db.session.commit()  # the read of the case is audited whatever happens to the form
    return render_template("sharing/disclose.html", form=form, view=view, errors=error_list(form)), _status()


@bp.route("/cases/<pid:public_id>/break-glass", methods=["GET", "POST"])
@require(Permission.BREAK_GLASS)
def break_glass(public_id: str) -> Page:
    """Emergency access to a case: a reason and a fresh code. The form never says whether the case exists."""
    form = BreakGlassForm()
    if form.validate_on_submit():
        try:
            services.start_break_glass(
                current_user, public_id, form.reason.data or "", form.code.data or "", db.utcnow()
            )
        except services.NotVisible:
            db.session.commit()  # the code was spent and counted
            audit.record_denial("break_glass.start", object_type="case", object_id=public_id, reason="not_found")
            abort(404)
        except services.SharingError as exc:
            db.session.commit()  # a wrong code counts towards the lockout
            add_error(form.code if "code" in str(exc) else form.reason, str(exc))
        else:
            db.session.commit()
            flash("Emergency access granted. Every read is recorded and the data protection officer will review it.")
            return redirect(url_for("cases.view", public_id=public_id))
    hours = int(current_app.config["MARAC_BREAK_GLASS_HOURS"])
    return render_template("sharing/break_glass.html", form=form, hours=hours, errors=error_list(form)), _status()


def _working_view(public_id: str, action: str) -> CaseView:
    """The case for someone working on it: 404 when they may not see it, 403 (audited) when they may only read."""
    view = load_case_for(current_user, public_id)
    if view is None:
        abort(404)
    if not can_act_on_case(view.relations):
        audit.record_denial(action, object_type="case", object_id=public_id, reason="read_only_relation")
        abort(403)
    return view


@bp.route("/cases/<pid:public_id>/must-not-receive", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def must_not_receive(public_id: str) -> Page:
    """The case's must-not-receive list: perpetrators (added with them) and any platform accounts barred."""
    view = _working_view(public_id, "case.must_not_receive_add")
    form = BarAccountForm()
    if form.validate_on_submit():
        try:
            services.bar_user_by_email(current_user, view.case, view.relations, form.email.data or "")
        except services.SharingError as exc:
            add_error(form.email, str(exc))
        else:
            db.session.commit()
            flash("Account added to the must-not-receive list: it can no longer see this case.", "success")
            return redirect(url_for("sharing.must_not_receive", public_id=public_id))
    entries = services.must_not_receive_entries(view.case)
    db.session.commit()
    return render_template(
        "sharing/must_not_receive.html", view=view, entries=entries, form=form, errors=error_list(form)
    ), _status()


@bp.route("/cases/<pid:public_id>/disclosures/<pid:disclosure_id>/withdraw", methods=["POST"])
@require(Permission.CASE_WRITE)
def withdraw(public_id: str, disclosure_id: str) -> Response:
    """End the access a disclosure gave an agency."""
    if not ConfirmForm().validate_on_submit():
        abort(400)
    view = _working_view(public_id, "disclosure.withdraw")
    disclosure = next((d for d in services.disclosures_for_case(view.case) if d.public_id == disclosure_id), None)
    if disclosure is None:
        abort(404)
    try:
        services.withdraw_disclosure(current_user, view.relations, disclosure)
    except services.SharingError as exc:
        flash(str(exc))
    else:
        flash(f"Disclosure to {disclosure.to_agency.name} withdrawn: they can no longer see this case.", "success")
    db.session.commit()
    return redirect(url_for("cases.view", public_id=public_id))


# --- the DPO -------------------------------------------------------------------------------------------------------


@bp.route("/dpo/disclosures")
@require(Permission.DISCLOSURE_REVIEW)
def dpo_disclosures() -> str:
    """Cases that have been disclosed to other agencies, latest first."""
    raw = request.args.get("page", "1")
    page = int(raw) if raw.isdigit() and 0 < int(raw) <= 10_000 else 1
    rows, total = services.cases_with_disclosures(page=page)
    audit.record("disclosure.list", actor=current_user, object_type="disclosure", details={"page": page})
    db.session.commit()
    return render_template("sharing/dpo_disclosures.html", rows=rows, total=total, page=page)


@bp.route("/dpo/disclosures/<pid:public_id>")
@require(Permission.DISCLOSURE_REVIEW)
def dpo_case_disclosures(public_id: str) -> str:
    """Every disclosure of one case: who, to whom, what, why, on what basis, and consent (no case content)."""
    case = get_case(public_id)
    if case is None:
        abort(404)
    disclosures = services.disclosures_for_case(case)
    audit.record("disclosure.review", actor=current_user, object_type="case", object_id=public_id)
    db.session.commit()
    return render_template(
        "sharing/dpo_case_disclosures.html",
        case=case,
        disclosures=disclosures,
        parts=services.PARTS,
        article6=services.ARTICLE6,
        conditions=services.CONDITIONS,
        consent=services.CONSENT,
    )


@bp.route("/dpo/break-glass")
@require(Permission.DISCLOSURE_REVIEW)
def dpo_break_glass() -> str:
    """Every use of emergency access, those awaiting review first."""
    grants = services.list_break_glass()
    audit.record("break_glass.list", actor=current_user, object_type="break_glass")
    db.session.commit()
    return render_template(
        "sharing/dpo_break_glass.html", grants=grants, awaiting=services.break_glass_awaiting_review()
    )


@bp.route("/dpo/break-glass/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.DISCLOSURE_REVIEW)
def dpo_review(public_id: str) -> Page:
    """Review one use of emergency access: the reason, how many reads, and the outcome."""
    grant = services.get_grant(public_id)
    if grant is None:
        abort(404)
    form = ReviewForm()
    if form.validate_on_submit():
        try:
            services.review_break_glass(current_user, grant, form.outcome.data or "", form.note.data or "")
        except services.SharingError as exc:
            add_error(form.note if "least" in str(exc) else form.outcome, str(exc))
        else:
            db.session.commit()
            flash("Review recorded.", "success")
            return redirect(url_for("sharing.dpo_break_glass"))
    audit.record("break_glass.view", actor=current_user, object_type="break_glass", object_id=public_id)
    db.session.commit()
    return render_template(
        "sharing/dpo_review.html",
        grant=grant,
        reads=services.reads_during(grant),
        form=form,
        outcomes=services.REVIEW_OUTCOMES,
        errors=error_list(form),
    ), _status()
