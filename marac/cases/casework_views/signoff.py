"""The supervisor's sign-off list and sign-off of a referral."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from marac import audit, db
from marac.access import Permission, can_sign_off, require
from marac.cases import referrals
from marac.cases.casework_forms import SignOffForm
from marac.cases.casework_views.blueprint import bp
from marac.cases.casework_views.common import Page, form_status, load, summary, waiting_rows
from marac.cases.criteria import criteria_labels
from marac.cases.models import Case, CaseStatus
from marac.cases.services import CaseView, audit_unreadable
from marac.forms import add_error, error_list


@bp.route("/sign-off")
@require(Permission.REFERRAL_SIGN_OFF)
def sign_off_list() -> str:
    """Referrals of the supervisor's agency waiting for sign-off, oldest first."""
    items = waiting_rows(referrals.awaiting_sign_off_for(current_user), with_repeat=False)
    audit.record("referral.sign_off_list", actor=current_user, object_type="case", details={"shown": len(items)})
    db.session.commit()
    return render_template("casework/sign_off_list.html", items=items, labels=criteria_labels)


def _refusal(case: Case, public_id: str) -> tuple[str | None, int]:
    """Why the current user cannot sign off this referral (audited when not theirs to sign), with the status."""
    if not can_sign_off(current_user, case, case.referred_by_id):
        audit.record_denial("referral.sign_off", object_type="case", object_id=public_id, reason="not_signer")
        return "You cannot sign off this referral: another supervisor at the referring agency must.", 403
    if case.status != CaseStatus.AWAITING_SIGN_OFF.value:
        return "This referral is not waiting for sign-off.", form_status()
    return None, 200


def _apply(form: SignOffForm, case: Case) -> str | None:
    """Sign off or return the referral as the form says; the message to flash, or None (errors on the form)."""
    try:
        if form.decision.data == "sign_off":
            referrals.sign_off(current_user, case)
            return f"Referral {case.reference} signed off: it has gone to the MARAC coordinator."
        referrals.return_referral(current_user, case, form.comments.data or "")
        return f"Referral {case.reference} returned to the referrer with your comments."
    except referrals.ReferralError as exc:
        add_error(form.comments if form.decision.data == "return" else form.decision, str(exc))
        return None


def _render(view: CaseView, form: SignOffForm | None, refusal: str | None, status: int) -> Page:
    details = summary(view)
    audit_unreadable(current_user)
    db.session.commit()
    errors = error_list(form) if form is not None else []
    page = render_template("casework/sign_off.html", form=form, refusal=refusal, errors=errors, **details)
    return page, status


@bp.route("/sign-off/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.REFERRAL_SIGN_OFF)
def sign_off(public_id: str) -> Page:
    """A referral's summary and the supervisor's choice: sign it off, or return it to the referrer with comments."""
    view = load(public_id)
    refusal, status = _refusal(view.case, public_id)
    form = SignOffForm()
    if refusal is not None and status == 403:  # not theirs: say so, and show nothing of the referral
        back = url_for("casework.sign_off_list")
        return render_template("casework/refused.html", refusal=refusal, back=back), 403
    if refusal is not None:
        return _render(view, None, refusal, status)
    if form.validate_on_submit():
        message = _apply(form, view.case)
        if message is not None:
            db.session.commit()
            flash(message, "success")
            return redirect(url_for("casework.sign_off_list"))
    return _render(view, form, None, form_status())
