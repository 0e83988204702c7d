"""Case pages: the list of cases a user may see, opening a case, a case, and adding people to it."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from marac import audit, db
from marac.access import (
    SENSITIVITY_LABELS,
    Permission,
    Role,
    can_act_on_case,
    can_open_case_in,
    cases_with_hidden_victim_name,
    disclosed_parts,
    require,
    user_area_ids,
)
from marac.auth.models import User, UserRole
from marac.cases import services
from marac.cases.forms import AddPartyForm, IncidentForm, NewCaseForm
from marac.cases.models import INCIDENT_TYPES, PARTY_ROLE_LABELS, PartyRole
from marac.cases.plans import PlanError
from marac.encompass.services.monitoring import case_notification_count
from marac.forms import add_error, error_list
from marac.orgs.models import Area
from marac.people.models import RELATIONSHIP_LABELS, PersonKind, Relationship
from marac.people.records import field_rows, name_from
from marac.people.services import PersonError, record_person
from marac.sharing.forms import ConfirmForm
from marac.sharing.services import PARTS, disclosures_for_case

bp = Blueprint("cases", __name__, url_prefix="/cases")
Page = str | tuple[str, int] | Response
PER_PAGE = 50


def _page() -> int:
    raw = request.args.get("page", "1")
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        abort(400)
    return int(raw)


@bp.route("/")
@require(Permission.CASE_READ)
def index() -> str:
    """The cases the user may see, newest referral first."""
    page = _page()
    cases, total = services.list_visible_cases(current_user, page=page, per_page=PER_PAGE)
    hidden = cases_with_hidden_victim_name(current_user, cases)
    services.audit_unreadable(current_user)
    db.session.commit()
    return render_template(
        "cases/index.html", cases=cases, hidden_names=hidden, total=total, page=page, per_page=PER_PAGE
    )


def _areas() -> list[Area]:
    ids = user_area_ids(current_user)
    return list(db.session.scalars(select(Area).where(Area.id.in_(ids), Area.is_active).order_by(Area.name)))


def _idvas() -> list[User]:
    return list(
        db.session.scalars(
            select(User)
            .join(UserRole)
            .where(UserRole.role == Role.IDVA.value, User.is_active)
            .order_by(User.display_name)
        )
    )


@bp.route("/new", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def new() -> Page:
    """Open a case: the victim's details, the area and the referral date; then check for matches."""
    form = NewCaseForm()
    areas, idvas = _areas(), _idvas()
    form.area.choices = [("", "Select")] + [(a.public_id, a.name) for a in areas]
    form.idva.choices = [("", "Not assigned yet")] + [(u.public_id, u.display_name) for u in idvas]
    if form.validate_on_submit():
        area = next((a for a in areas if a.public_id == form.area.data), None)
        idva = next((u for u in idvas if u.public_id == form.idva.data), None)
        if form.idva.data and idva is None:
            add_error(form.idva, "Select an IDVA from the list")
        elif area is not None and can_open_case_in(current_user, area):
            try:
                victim = record_person(current_user, PersonKind.VICTIM, form.details())
                case = services.open_case(
                    current_user,
                    area=area,
                    victim=victim,
                    referring_agency=current_user.agency,
                    referred_on=form.referred_on.data or db.london_today(),
                    idva=idva,
                )
            except (PersonError, services.CaseError) as exc:
                add_error(form.given_name, str(exc))
            else:
                db.session.commit()
                flash(f"Case {case.reference} opened. Check whether the victim is already known.", "success")
                return redirect(url_for("people.matches", public_id=victim.public_id, case=case.public_id))
        else:
            add_error(form.area, "Select an area you work in: you cannot open cases in that one")
    status = 400 if request.method == "POST" else 200
    return render_template("cases/new.html", form=form, errors=error_list(form)), status


@bp.route("/<pid:public_id>")
@require(Permission.CASE_READ)
def view(public_id: str) -> str:
    """One case, as the user may see it: people (restricted fields marked), flags and other cases."""
    view = services.load_case_for(current_user, public_id)
    if view is None:
        abort(404)
    parts = disclosed_parts(current_user, view.relations, [view.case.id])
    rows = {
        pv.party.id: field_rows(current_user, pv.person, view.relations, pv.party.role, parts) for pv in view.parties
    }
    shows_risk = parts is None or "risk" in parts  # incidents are risk information: only if it was shared
    incidents = [
        (i, INCIDENT_TYPES.get(i.incident_type, i.incident_type), str(i.police_reference or ""), str(i.summary or ""))
        for i in (services.case_incidents(view.case) if shows_risk else [])
    ]
    encompass_n = case_notification_count(current_user, view)  # for the link to the household's notifications
    services.audit_unreadable(current_user)  # values decrypted for the rows and incidents above
    db.session.commit()
    return render_template(
        "cases/view.html",
        view=view,
        encompass_n=encompass_n,
        can_act=can_act_on_case(view.relations),
        rows=rows,
        names={party_id: name_from(r) for party_id, r in rows.items()},
        disclosures=disclosures_for_case(view.case) if can_act_on_case(view.relations) else [],
        incidents=incidents,
        shows_risk=shows_risk,
        confirm=ConfirmForm(),
        parts_labels=PARTS,
        sensitivity_labels=SENSITIVITY_LABELS,
        role_labels={r.value: label for r, label in PARTY_ROLE_LABELS.items()},
        relationship_labels={r.value: label for r, label in RELATIONSHIP_LABELS.items()},
    )


@bp.route("/<pid:public_id>/people/new", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def add_person(public_id: str) -> Page:
    """Add a perpetrator, child or other household member to a case; then check for matches."""
    view = services.load_case_for(current_user, public_id)
    if view is None:
        abort(404)
    if not can_act_on_case(view.relations):
        audit.record_denial("case.add_party", object_type="case", object_id=public_id, reason="read_only_relation")
        abort(403)
    form = AddPartyForm()
    if form.validate_on_submit():
        role = PartyRole(form.role.data)
        try:
            person = record_person(current_user, PersonKind(role.value), form.details())
            services.add_party(
                current_user,
                view.case,
                person,
                role,
                Relationship(form.relationship.data),
                same_household=bool(form.same_household.data),
            )
        except (PersonError, services.CaseError) as exc:
            db.session.rollback()  # nothing half-made is kept; the read is audited again below
            view = services.load_case_for(current_user, public_id) or abort(404)
            add_error(form.given_name, str(exc))
        else:
            db.session.commit()
            flash("Person added. Check whether they are already known.", "success")
            return redirect(url_for("people.matches", public_id=person.public_id, case=view.case.public_id))
    db.session.commit()  # the case view was audited
    status = 400 if request.method == "POST" else 200
    return render_template("cases/add_party.html", form=form, view=view, errors=error_list(form)), status


@bp.route("/<pid:public_id>/incidents/new", methods=["GET", "POST"])
@require(Permission.CASE_WRITE)
def add_incident(public_id: str) -> Page:
    """Record an incident on the case; it counts towards escalation and makes a risk review due."""
    view = services.load_case_for(current_user, public_id)
    if view is None:
        abort(404)
    if not can_act_on_case(view.relations):
        audit.record_denial("incident.create", object_type="case", object_id=public_id, reason="read_only_relation")
        abort(403)
    perpetrators = [pv.person for pv in view.parties if pv.party.role == PartyRole.PERPETRATOR.value]
    form = IncidentForm()
    form.perpetrator.choices = [("", "Not known")] + [(p.public_id, p.display_name) for p in perpetrators]
    if form.validate_on_submit():
        try:
            services.record_case_incident(current_user, view, form.incident(perpetrators))
        except (services.CaseError, PlanError) as exc:
            db.session.rollback()  # neither the incident nor its review: nothing half-made is kept
            view = services.load_case_for(current_user, public_id) or abort(404)
            add_error(form.occurred_on, str(exc))
        else:
            db.session.commit()
            flash("Incident recorded. A risk review is now due.", "success")
            return redirect(url_for("cases.view", public_id=public_id))
    services.audit_unreadable(current_user)
    db.session.commit()
    status = 400 if request.method == "POST" else 200
    return render_template("cases/incident_form.html", form=form, view=view, errors=error_list(form)), status
