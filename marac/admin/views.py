"""Administration pages: thin views over marac.orgs.services and marac.auth.services."""

from __future__ import annotations

from typing import TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select
from werkzeug.wrappers import Response

from marac import db
from marac.access import ROLE_LABELS, Permission, Role, require
from marac.admin.forms import AgencyForm, AreaForm, ConfirmForm, UserEditForm, UserForm
from marac.auth import accounts
from marac.auth.models import User
from marac.forms import add_error, error_list
from marac.orgs import services as orgs
from marac.orgs.models import Agency, Area

bp = Blueprint("admin", __name__, url_prefix="/admin")
Page = str | tuple[str, int] | Response


M = TypeVar("M", Area, Agency, User)


def _load(model: type[M], public_id: str) -> M:
    obj = db.session.scalar(select(model).where(model.public_id == public_id))
    if obj is None:
        abort(404)
    return obj


def _status() -> int:
    return 400 if request.method == "POST" else 200


@bp.route("/")
@require(Permission.ADMIN_MANAGE)
def index() -> str:
    """Administration overview."""
    return render_template(
        "admin/index.html",
        areas=orgs.list_areas(),
        agencies=orgs.list_agencies(),
        user_count=accounts.count_users(),
    )


# --- areas ---------------------------------------------------------------------------------------------------------


@bp.route("/areas")
@require(Permission.ADMIN_MANAGE)
def areas() -> str:
    """All MARAC areas."""
    return render_template("admin/areas.html", areas=orgs.list_areas())


@bp.route("/areas/new", methods=["GET", "POST"])
@bp.route("/areas/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.ADMIN_MANAGE)
def area(public_id: str | None = None) -> Page:
    """Create or change an area."""
    existing = _load(Area, public_id) if public_id else None
    form = AreaForm(obj=existing)
    if form.validate_on_submit():
        try:
            orgs.save_area(
                current_user,
                name=form.name.data or "",
                is_active=bool(form.is_active.data),
                area=existing,
                thresholds=form.thresholds(),
            )
        except orgs.OrgError as exc:
            db.session.rollback()
            add_error(form.name, str(exc))
        else:
            db.session.commit()
            flash("Area saved.", "success")
            return redirect(url_for("admin.areas"))
    return render_template("admin/area_form.html", form=form, area=existing, errors=error_list(form)), _status()


# --- agencies ------------------------------------------------------------------------------------------------------


@bp.route("/agencies")
@require(Permission.ADMIN_MANAGE)
def agencies() -> str:
    """All agencies with their kinds and areas."""
    return render_template("admin/agencies.html", agencies=orgs.list_agencies())


@bp.route("/agencies/new", methods=["GET", "POST"])
@bp.route("/agencies/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.ADMIN_MANAGE)
def agency(public_id: str | None = None) -> Page:
    """Create or change an agency and the areas it serves."""
    existing = _load(Agency, public_id) if public_id else None
    all_areas = orgs.list_areas()
    form = AgencyForm(obj=existing)
    form.areas.choices = [(a.public_id, a.name) for a in all_areas]
    if request.method == "GET" and existing is not None:
        form.areas.data = [a.public_id for a in existing.areas]
    if form.validate_on_submit():
        chosen = [a for a in all_areas if a.public_id in (form.areas.data or [])]
        try:
            orgs.save_agency(
                current_user,
                name=form.name.data or "",
                kind=form.kind.data or "",
                areas=chosen,
                is_active=bool(form.is_active.data),
                agency=existing,
            )
        except orgs.OrgError as exc:
            db.session.rollback()
            add_error(form.name, str(exc))
        else:
            db.session.commit()
            flash("Agency saved.", "success")
            return redirect(url_for("admin.agencies"))
    return render_template("admin/agency_form.html", form=form, agency=existing, errors=error_list(form)), _status()


# --- users ---------------------------------------------------------------------------------------------------------


@bp.route("/users")
@require(Permission.ADMIN_MANAGE)
def users() -> str:
    """Accounts, optionally for one agency."""
    agency_id = request.args.get("agency")
    return render_template(
        "admin/users.html",
        users=accounts.list_users(agency_public_id=agency_id),
        agencies=orgs.list_agencies(),
        selected_agency=agency_id,
        role_labels={r.value: ROLE_LABELS[r] for r in Role},
    )


def _user_form_choices(form: UserForm) -> tuple[list[Agency], list[Area]]:
    all_agencies, all_areas = orgs.list_agencies(active_only=True), orgs.list_areas(active_only=True)
    form.agency.choices = [("", "Select an agency")] + [(a.public_id, a.name) for a in all_agencies]
    form.areas.choices = [(a.public_id, a.name) for a in all_areas]
    return all_agencies, all_areas


@bp.route("/users/new", methods=["GET", "POST"])
@require(Permission.ADMIN_MANAGE)
def new_user() -> Page:
    """Create an account; the temporary password is shown once."""
    form = UserForm()
    all_agencies, all_areas = _user_form_choices(form)
    if form.validate_on_submit():
        chosen_agency = next(a for a in all_agencies if a.public_id == form.agency.data)
        try:
            user, secret = accounts.create_user(
                current_user,
                email=form.email.data or "",
                display_name=form.display_name.data or "",
                agency=chosen_agency,
                roles=form.roles.data or [],
                areas=[a for a in all_areas if a.public_id in (form.areas.data or [])],
                now=db.utcnow(),
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            add_error(form.email, str(exc))
        else:
            db.session.commit()
            return render_template("admin/temporary_password.html", user=user, secret=secret, created=True)
    return render_template("admin/user_form.html", form=form, user=None, errors=error_list(form)), _status()


@bp.route("/users/<pid:public_id>", methods=["GET", "POST"])
@require(Permission.ADMIN_MANAGE)
def user(public_id: str) -> Page:
    """Change an account's name, agency, roles and area limits."""
    account = _load(User, public_id)
    form = UserEditForm(obj=account)
    all_agencies, all_areas = _user_form_choices(form)
    if request.method == "GET":
        form.agency.data, form.roles.data = account.agency.public_id, account.role_names
        form.areas.data = [a.public_id for a in account.areas]
    if form.validate_on_submit():
        chosen_agency = next(a for a in all_agencies if a.public_id == form.agency.data)
        try:
            accounts.update_user(
                current_user,
                account,
                display_name=form.display_name.data or "",
                agency=chosen_agency,
                roles=form.roles.data or [],
                areas=[a for a in all_areas if a.public_id in (form.areas.data or [])],
                now=db.utcnow(),
            )
        except accounts.AccountError as exc:
            db.session.rollback()
            add_error(form.roles, str(exc))
        else:
            db.session.commit()
            flash("User saved.", "success")
            return redirect(url_for("admin.users"))
    return render_template(
        "admin/user_form.html", form=form, user=account, confirm=ConfirmForm(), errors=error_list(form)
    ), _status()


def _set_active(public_id: str, active: bool) -> Response:
    account = _load(User, public_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        accounts.set_user_active(current_user, account, active, db.utcnow())
    except accounts.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.user", public_id=public_id))
    db.session.commit()
    flash("Account enabled." if active else "Account disabled and signed out everywhere.", "success")
    return redirect(url_for("admin.user", public_id=public_id))


@bp.route("/users/<pid:public_id>/disable", methods=["POST"])
@require(Permission.ADMIN_MANAGE)
def disable_user(public_id: str) -> Response:
    """Disable an account; every session it has ends at its next request."""
    return _set_active(public_id, active=False)


@bp.route("/users/<pid:public_id>/enable", methods=["POST"])
@require(Permission.ADMIN_MANAGE)
def enable_user(public_id: str) -> Response:
    """Enable a disabled account again."""
    return _set_active(public_id, active=True)


@bp.route("/users/<pid:public_id>/reset", methods=["POST"])
@require(Permission.ADMIN_MANAGE)
def reset(public_id: str) -> Page:
    """Issue a temporary password and clear MFA, so the user enrols again."""
    account = _load(User, public_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        secret = accounts.reset_user(current_user, account, db.utcnow())
    except accounts.AccountError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.user", public_id=public_id))
    db.session.commit()
    return render_template("admin/temporary_password.html", user=account, secret=secret, created=False)


# --- outbox (issue 6) -----------------------------------------------------------------------------------------------


@bp.route("/outbox")
@require(Permission.ADMIN_MANAGE)
def outbox() -> str:
    """Messages by status and the ones that could not be delivered (who, what kind, why: never their content)."""
    from marac.notify import services as notify

    return render_template(
        "admin/outbox.html",
        summary=notify.summarise_outbox(),
        dead=notify.list_dead_letters(),
        confirm=ConfirmForm(),
    )


@bp.route("/outbox/<pid:public_id>/requeue", methods=["POST"])
@require(Permission.ADMIN_MANAGE)
def requeue_message(public_id: str) -> Response:
    """Send a dead letter again (its idempotency key kept, so a message already delivered is not sent twice)."""
    from marac.notify import admin as outbox

    message = outbox.get_outbox_message(public_id)
    if message is None:
        abort(404)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        outbox.requeue_message(current_user, message, db.utcnow())
    except outbox.NotDeadLetter:
        db.session.rollback()
        flash("That message is not waiting to be sent again: it was already sent or queued again.", "error")
        return redirect(url_for("admin.outbox"))
    db.session.commit()
    flash("The message will be sent again within a minute.", "success")
    return redirect(url_for("admin.outbox"))


@bp.app_template_global("undelivered_message_count")
def undelivered_message_count() -> int:
    """How many messages are dead-lettered (for the alert on the administration home page)."""
    from marac.notify.services import count_dead_letters

    return count_dead_letters()
