"""Person pages: search across agencies, a person, and the suggested matches a user links or rejects."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import (
    SENSITIVITY_LABELS,
    CaseRelation,
    Permission,
    can_act_on_person,
    can_see_field,
    field_sensitivity,
    person_relations,
    require,
)
from marac.cases.services import audit_unreadable
from marac.forms import error_list
from marac.people import services
from marac.people.forms import DecisionForm, PersonEditForm, PersonSearchForm, form_data
from marac.people.matching import Identifiers
from marac.people.models import PERSON_KIND_LABELS, Person, PersonKind
from marac.people.records import editable_fields, person_record
from marac.web import PUBLIC_ID

bp = Blueprint("people", __name__, url_prefix="/people")
Page = str | tuple[str, int] | Response


def _load_visible(public_id: str, action: str) -> tuple[Person, frozenset[CaseRelation]]:
    """The person and the user's relations to them; 404 and an audited denial when they may not see them."""
    person = services.get_person(public_id)
    relations = person_relations(current_user, person) if person is not None else frozenset()
    if person is None or not relations:
        audit.record_denial(action, object_type="person", object_id=public_id, reason="no_relationship")
        abort(404)
    return person, relations


@bp.route("/search", methods=["GET", "POST"])
@require(Permission.PERSON_SEARCH)
def search() -> Page:
    """Find a person across agencies by any mix of name, date of birth, phone, postcode and email. The terms go by
    POST (never in an address or a log) and only which fields were used is audited."""
    form = PersonSearchForm()
    results = None
    if form.validate_on_submit():
        ids = Identifiers(
            given_name=form.given_name.data,
            family_name=form.family_name.data,
            date_of_birth=form.date_of_birth.data,
            phones=[form.phone.data] if form.phone.data else [],
            email=form.email.data,
            postcode=form.postcode.data,
        )
        if not ids.values():
            form.given_name.errors = ["Enter both a given and a family name, or another detail, to search"]
        else:
            results = services.describe_candidates(current_user, services.find_candidates(current_user, ids, limit=20))
            audit_unreadable(current_user)
            db.session.commit()
    status = 400 if request.method == "POST" and form.errors else 200
    return render_template("people/search.html", form=form, results=results, errors=error_list(form)), status


@bp.route("/<pid:public_id>")
@require(Permission.CASE_READ)
def view(public_id: str) -> str:
    """One person, with restricted fields marked, their cases the user may see, and repeat or serial flags."""
    person, relations = _load_visible(public_id, "person.view")
    record = person_record(current_user, person, relations)
    purpose = "break_glass" if relations == frozenset({CaseRelation.BREAK_GLASS}) else None
    audit.record("person.view", actor=current_user, object_type="person", object_id=public_id, purpose=purpose)
    audit_unreadable(current_user)
    db.session.commit()
    return render_template(
        "people/view.html",
        record=record,
        person=person,
        kind_label=PERSON_KIND_LABELS[PersonKind(person.kind)],
        can_act=can_act_on_person(current_user, relations),
        sensitivity_labels=SENSITIVITY_LABELS,
    )


def _return_case() -> str | None:
    case = request.args.get("case", "")
    return case if PUBLIC_ID.fullmatch(case) else None


@bp.route("/<pid:public_id>/matches")
@require(Permission.CASE_WRITE)
def matches(public_id: str) -> Page:
    """Records that may be the same individual, with plain reasons; the user links or rejects each one."""
    person, relations = _load_visible(public_id, "person.match")
    if not can_act_on_person(current_user, relations):
        audit.record_denial("person.match", object_type="person", object_id=public_id, reason="read_only_relation")
        abort(403)
    found = services.find_candidates(current_user, services.identifiers_of(person), exclude=person)
    candidates = services.describe_candidates(current_user, found)
    audit.record("person.view", actor=current_user, object_type="person", object_id=public_id)
    audit_unreadable(current_user)
    db.session.commit()
    return render_template(
        "people/matches.html",
        person=person,
        candidates=candidates,
        case=_return_case(),
        form=DecisionForm(),
        can_see_field=can_see_field,
        field_sensitivity=field_sensitivity,
        relations=relations,
    )


@bp.route("/<pid:public_id>/matches/<pid:other_id>/<any(link, reject):decision>", methods=["POST"])
@require(Permission.CASE_WRITE)
def decide(public_id: str, other_id: str, decision: str) -> Response:
    """Link a suggested match (the same individual) or reject it (someone else)."""
    form = DecisionForm()
    if not form.validate_on_submit():
        abort(400)
    person, relations = _load_visible(public_id, "person.match")
    other = services.get_person(other_id)
    if other is None or not can_act_on_person(current_user, relations):
        audit.record_denial("person.match", object_type="person", object_id=public_id, reason="not_allowed")
        abort(404)
    try:
        if decision == "link":
            services.link_persons(current_user, person, other)
            message = "Linked: these records are now treated as the same person for repeat and serial checks."
        else:
            services.reject_match(current_user, person, other)
            message = "Recorded as a different person: this record will not be suggested again."
    except services.PersonError as exc:
        flash(str(exc), "error")
    else:
        db.session.commit()
        flash(message, "success")
    return redirect(url_for("people.matches", public_id=public_id, case=_return_case()))


@bp.route("/<pid:public_id>/edit", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def edit(public_id: str) -> Page:
    """Change a person's details. Fields the user may not see are neither shown nor changed."""
    person, relations = _load_visible(public_id, "person.update")
    if not can_act_on_person(current_user, relations):
        audit.record_denial("person.update", object_type="person", object_id=public_id, reason="read_only_relation")
        abort(403)
    shown, unreadable = editable_fields(current_user, person, relations)
    form = PersonEditForm(data=form_data(person, shown) if request.method == "GET" else None)
    if form.validate_on_submit():
        details = form.details()
        keep = _all_fields() - shown | {f for f in unreadable if not getattr(details, f)}
        try:
            services.update_person(current_user, person, details, keep=frozenset(keep))
        except services.PersonError as exc:
            form.given_name.errors = [str(exc)]
        else:
            db.session.commit()
            flash("Details saved.", "success")
            return redirect(url_for("people.view", public_id=public_id))
    audit.record("person.view", actor=current_user, object_type="person", object_id=public_id)
    audit_unreadable(current_user)
    db.session.commit()
    status = 400 if request.method == "POST" else 200
    return render_template("people/edit.html", form=form, person=person, shown=shown, errors=error_list(form)), status


def _all_fields() -> set[str]:
    return set(services.SEALED_FIELDS)
