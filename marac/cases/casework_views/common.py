"""What the case work pages share: loading a case, the referral summary, list items and who may own work."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import abort, request
from flask_login import current_user
from werkzeug.wrappers import Response

from marac import audit
from marac.access import CaseRelation, can_act_on_case, can_change_case_work
from marac.auth.models import User
from marac.cases import referrals
from marac.cases.criteria import criteria_labels, evaluate
from marac.cases.models import Case, PartyRole, Referral, RiskAssessment
from marac.cases.services import CaseView, load_case_for
from marac.people.flags import repeat_case_ids
from marac.people.models import Person
from marac.people.records import field_rows, name_from

Page = str | tuple[str, int] | Response
CONSENT_LABELS = {
    "given": "The victim knows and consents",
    "refused": "The victim refused consent",
    "not_sought": "Consent not sought",
}


def form_status() -> int:
    """400 for a POST that is shown again (it had errors), 200 for a GET."""
    return 400 if request.method == "POST" else 200


def person_name(person: Person, relations: frozenset[CaseRelation], role: str) -> str:
    """The person's name as the current user may see it."""
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


def waiting_rows(items: list[referrals.QueueItem], *, with_repeat: bool = True) -> list[Waiting]:
    """Queue items as list rows, with grades and (if asked) repeat flags worked out for the whole list at once."""
    cases = [item.case for item in items]
    grades = referrals.latest_grades([c.id for c in cases])
    repeats = repeat_case_ids(cases) if with_repeat else set()
    return [
        Waiting(i.case, i.referral, i.days_waiting, i.criteria, grades.get(i.case.id), i.case.id in repeats)
        for i in items
    ]


def load(public_id: str) -> CaseView:
    """The case as the current user sees it; 404 when they may not see it."""
    view = load_case_for(current_user, public_id)
    if view is None:
        abort(404)
    return view


def summary(view: CaseView) -> dict[str, Any]:
    """What a supervisor or coordinator reads before deciding: people, assessment, criteria and consent."""
    case = view.case
    referral = referrals.find_referral(case)
    if referral is None:
        abort(404)
    assessment: RiskAssessment | None = referrals.latest_assessment(case)
    parties = [
        (pv.party.role, person_name(pv.person, view.relations, pv.party.role))
        for pv in view.parties
        if pv.party.role != PartyRole.VICTIM.value
    ]
    return {
        "view": view,
        "referral": referral,
        "victim_name": person_name(case.victim, view.relations, PartyRole.VICTIM.value),
        "parties": parties,
        "assessment": assessment,
        "criteria": evaluate(case, on=case.referred_on),
        "met": [c for c in referral.criteria.split(",") if c],
        "labels": criteria_labels,
        "consent_labels": CONSENT_LABELS,
    }


def working(public_id: str, action: str) -> CaseView:
    """The case for someone working on it: 404 when they may not see it, 403 (audited) when they may only read."""
    view = load(public_id)
    if not can_act_on_case(view.relations):
        audit.record_denial(action, object_type="case", object_id=public_id, reason="read_only_relation")
        abort(403)
    return view


def require_change(view: CaseView, owner_id: int | None, action: str, public_id: str) -> None:
    """403 (audited) unless the current user may change this piece of work on the case."""
    if not can_change_case_work(current_user, view.relations, owner_id):
        audit.record_denial(action, object_type="case", object_id=public_id, reason="read_only_relation")
        abort(403)


def owners(case: Case) -> list[User]:
    """Who may be named to own work on the case: the current user, the assigned IDVA and the area's coordinators."""
    return referrals.case_work_owners(current_user._get_current_object(), case)


def owner_label(user: User) -> str:
    """An owner as offered in a list: name, agency and "(you)"."""
    you = " (you)" if user.id == current_user.id else ""
    return f"{user.display_name}, {user.agency.name}{you}"


def error_message(form: Any, fallback: str) -> str | None:
    """The first error on a one-field form, or `fallback`; None when the form is valid."""
    if form.validate_on_submit():
        return None
    return next((str(e[0]) for e in form.errors.values() if e), fallback)
