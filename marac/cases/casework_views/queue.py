"""The coordinator's queue and decisions on referrals."""

from __future__ import annotations

from flask import flash, redirect, render_template, url_for
from flask_login import current_user

from marac import audit, db
from marac.access import Permission, can_decide_referral, require
from marac.cases import referrals
from marac.cases.casework_forms import DecisionForm
from marac.cases.casework_views.blueprint import bp
from marac.cases.casework_views.common import Page, form_status, load, summary, waiting_rows
from marac.cases.criteria import criteria_labels
from marac.cases.models import Case, CaseStatus
from marac.cases.services import CaseView, audit_unreadable
from marac.forms import add_error, error_list


@bp.route("/queue")
@require(Permission.REFERRAL_DECIDE)
def queue() -> str:
    """Referrals in the coordinator's areas waiting for a decision (oldest first) and those still with supervisors."""
    deciding = waiting_rows(referrals.coordinator_queue(current_user))
    signing = waiting_rows(referrals.coordinator_queue(current_user, status=CaseStatus.AWAITING_SIGN_OFF.value))
    audit.record(
        "referral.queue", actor=current_user, object_type="case", details={"shown": len(deciding) + len(signing)}
    )
    db.session.commit()
    return render_template("casework/queue.html", deciding=deciding, signing=signing, labels=criteria_labels)


def _decision_choices(form: DecisionForm, view: CaseView) -> tuple[list[referrals.Caseload], list[Case]]:
    caseloads = referrals.idva_caseloads(view.case.area)
    duplicates = referrals.live_episodes(view.case.victim, exclude=view.case, visible_to=current_user)
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


def _refusal(view: CaseView, public_id: str) -> tuple[str | None, int]:
    """Why the current user cannot decide on this referral (audited when not theirs to decide), with the status."""
    if not can_decide_referral(view.relations):
        audit.record_denial("referral.decide", object_type="case", object_id=public_id, reason="not_decider")
        return "Only the MARAC coordinator for this case's area can decide on it.", 403
    if view.case.status != CaseStatus.AWAITING_DECISION.value:
        return "This referral is not waiting for a decision.", form_status()
    return None, form_status()


@bp.route("/queue/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.REFERRAL_DECIDE)
def decide(public_id: str) -> Page:
    """Decide on a signed-off referral: accept (and allocate an IDVA), below threshold, or duplicate."""
    view = load(public_id)
    refusal, status = _refusal(view, public_id)
    if refusal is not None and status == 403:  # not theirs: say so, and show nothing of the referral
        return render_template("casework/refused.html", refusal=refusal, back=url_for("casework.queue")), 403
    form = DecisionForm()
    caseloads, live = _decision_choices(form, view)
    if refusal is None and form.validate_on_submit() and _apply_decision(form, view, caseloads, live):
        db.session.commit()
        flash(f"Decision on {view.case.reference} recorded.", "success")
        return redirect(url_for("casework.queue"))
    details = summary(view)
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
        **details,
    ), status
