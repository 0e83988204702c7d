"""Sign-in with password and authenticator code, sign-out, and changing one's password."""

from __future__ import annotations

import segno
from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from markupsafe import Markup
from werkzeug.wrappers import Response

from marac import db
from marac.access import Permission, public, require
from marac.auth import services
from marac.auth.forms import ChangePasswordForm, CodeForm, SignInForm
from marac.extensions import limiter
from marac.forms import add_error, error_list, safe_next

bp = Blueprint("auth", __name__)

#: One answer for unknown accounts, wrong passwords, disabled and locked accounts: no enumeration.
SIGN_IN_FAILED = "Enter a correct email address and password. After 5 wrong attempts you will need to wait."
CODE_FAILED = "The code is not right: enter the current 6-digit code from your authenticator app"
PENDING_KEY = "pending_mfa"


def _sign_in_limit() -> str:
    return str(current_app.config["MARAC_SIGNIN_RATE_LIMIT"])


Page = str | tuple[str, int] | Response


@bp.route("/sign-in", methods=["GET", "POST"])
@public
@limiter.limit(_sign_in_limit, methods=["POST"])
def sign_in() -> Page:
    """First step: email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("home.index"))
    form = SignInForm()
    if form.validate_on_submit():
        now = db.utcnow()
        user = services.attempt_password(form.email.data or "", form.password.data or "", now)
        if user is not None:
            token = services.start_pending_session(user, now)
            db.session.commit()
            next_url = safe_next(request.args.get("next"))
            session.clear()
            session[PENDING_KEY] = token
            if next_url:
                session["next"] = next_url
            return redirect(url_for("auth.code"))
        db.session.commit()  # the failure count and its audit event
        add_error(form.email, SIGN_IN_FAILED)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/sign_in.html", form=form, errors=error_list(form)), status


@bp.route("/sign-in/code", methods=["GET", "POST"])
@public
@limiter.limit(_sign_in_limit, methods=["POST"])
def code() -> Page:
    """Second step: the authenticator code; on first sign-in, set up the authenticator with a QR code."""
    now = db.utcnow()
    row = services.pending_session(session.get(PENDING_KEY), now)
    if row is None:
        session.pop(PENDING_KEY, None)
        flash("Sign in again: the sign-in timed out or was not finished.", "info")
        return redirect(url_for("auth.sign_in"))
    user = row.user
    enrolling = user.totp_secret is None
    qr, secret = None, None
    if enrolling:
        secret = services.enrolment_secret(user)
        qr = Markup(segno.make(services.provisioning_uri(user, secret), error="m").svg_inline(scale=4, omitsize=True))
        db.session.commit()
    form = CodeForm()
    if form.validate_on_submit():
        token = services.complete_mfa(row, form.code.data or "", now)
        db.session.commit()
        if token is not None:
            next_url = safe_next(session.get("next"))
            session.clear()
            user.auth_token = token
            login_user(user)
            return redirect(next_url or url_for("home.index"))
        if services.pending_session(session.get(PENDING_KEY), now) is None:
            flash("Sign in again: too many wrong codes.", "info")
            return redirect(url_for("auth.sign_in"))
        add_error(form.code, CODE_FAILED)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/code.html", form=form, errors=error_list(form), enrolling=enrolling,
                           qr=qr, secret=secret), status


@bp.route("/sign-out", methods=["POST"])
@require(Permission.SIGNED_IN)
def sign_out() -> Response:
    """End the session on the server and in the browser."""
    token = current_user.auth_token
    if token:
        services.end_session(token, db.utcnow())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You have signed out.", "success")
    return redirect(url_for("auth.sign_in"))


@bp.route("/account/password", methods=["GET", "POST"])
@require(Permission.SIGNED_IN)
def change_password() -> Page:
    """Change one's own password (required after an administrator issued a temporary one)."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        problems = services.change_own_password(current_user, form.current_password.data or "",
                                                form.new_password.data or "", db.utcnow())
        if not problems:
            db.session.commit()
            flash("Your password has been changed.", "success")
            return redirect(url_for("home.index"))
        db.session.rollback()
        field = form.current_password if problems[0].startswith("Your current") else form.new_password
        for problem in problems:
            add_error(field, problem)
    status = 400 if request.method == "POST" else 200
    return render_template("auth/change_password.html", form=form, errors=error_list(form),
                           forced=current_user.must_change_password), status
