"""Cross-cutting web behaviour: permission enforcement, session loading, security headers, errors, assets, health."""

from __future__ import annotations

import re
import secrets
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    jsonify,
    render_template,
    request,
    send_from_directory,
    url_for,
)
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy import text
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BaseConverter
from werkzeug.wrappers import Response

from marac import access, db
from marac.access import Permission, can, can_record_incidents, public, route_permission

ERROR_CODES = (400, 401, 403, 404, 405, 413, 429, 500)
ASSET_ROOT = Path(__file__).resolve().parent.parent
GOVUK_DIST = ASSET_ROOT / "node_modules" / "govuk-frontend" / "dist" / "govuk"

bp = Blueprint("web", __name__)
F = TypeVar("F", bound=Callable[..., Any])

#: The attribute `accepts_upload` puts on a view: (largest file in bytes, endpoint to go back to or None).
UPLOAD_MARKER = "_marac_upload_limit"
#: Room in a request for what comes with an uploaded file: the CSRF token, other fields, multipart framing.
FORM_FRAMING = 64 * 1024


#: A public identifier (UUID4 as text), for checking values that arrive outside the URL path.
PUBLIC_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


class PublicIdConverter(BaseConverter):
    """`<pid:...>`: a public identifier (UUID) in a URL; anything else is simply not found."""

    regex = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def refuse_nul_bytes() -> None:
    """NUL cannot be stored by PostgreSQL (SQLite would keep it): refuse it anywhere in a request with a 400."""
    values = [*request.args.values(), *request.view_args.values()] if request.view_args else [*request.args.values()]
    if request.method == "POST" and request.mimetype in {"application/x-www-form-urlencoded", "multipart/form-data"}:
        values.extend(request.form.values())
    if any(isinstance(v, str) and "\x00" in v for v in values):
        abort(400)


def accepts_upload(max_bytes: int, back: str | None = None) -> Callable[[F], F]:
    """Mark a view as taking a file of up to `max_bytes`: its requests may be that much larger than the app-wide
    MAX_CONTENT_LENGTH (plus `FORM_FRAMING`). `back`: the endpoint (same URL values) whose form sent the file, for
    the too-large page's link, when the view itself has no form to go back to."""

    def decorate(view: F) -> F:
        setattr(view, UPLOAD_MARKER, (max_bytes, back))
        return view

    return decorate


def _upload_marker() -> tuple[int, str | None] | None:
    view = current_app.view_functions.get(request.endpoint) if request.endpoint else None
    marker = getattr(view, UPLOAD_MARKER, None)
    return marker if isinstance(marker, tuple) else None


def apply_upload_limit(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """Before anything reads the body (the CSRF check parses the form first of all): a view marked with
    `accepts_upload` takes a request as large as its file limit allows. Runs as a URL value preprocessor, the one
    hook Flask calls before every `before_request` function."""
    marker = _upload_marker()
    permission = route_permission(current_app, endpoint) if endpoint else None
    if marker is not None and permission is not None and can(current_user, permission):  # only those who may upload
        request.max_content_length = max(marker[0] + FORM_FRAMING, current_app.config["MAX_CONTENT_LENGTH"] or 0)


def format_size(size: int) -> str:
    """Bytes as people write them: "2 MB", "1.5 MB", "512 KB"."""
    if size >= 1024 * 1024:
        return f"{round(size / (1024 * 1024), 1):g} MB"
    return f"{max(1, round(size / 1024))} KB"


def _too_large_context() -> dict[str, Any]:
    """What the 413 page says: the largest file the page takes (or request, anywhere else) and where to go back."""
    marker = _upload_marker()
    limit = marker[0] if marker else int(current_app.config["MAX_CONTENT_LENGTH"] or 0)
    back = None
    if marker and marker[1]:
        back = url_for(marker[1], **(request.view_args or {}))
    elif request.url_rule is not None and "GET" in (request.url_rule.methods or ()):
        back = request.path  # the page whose form was sent (never the query: it may hold search terms)
    return {"limit": format_size(limit) if limit else None, "is_upload": marker is not None, "back": back}


@bp.route("/assets/images/<path:filename>")
@public
def govuk_images(filename: str) -> Response:
    """GOV.UK Frontend images (the precompiled styles look for them under /assets/). Fonts are not served at all:
    GDS Transport is for GOV.UK domains only."""
    return send_from_directory(GOVUK_DIST / "assets" / "images", filename, max_age=86400)


@bp.route("/static/govuk/govuk-frontend.min.js")
@public
def govuk_script() -> Response:
    """GOV.UK Frontend JavaScript (the one file pages load)."""
    return send_from_directory(GOVUK_DIST, "govuk-frontend.min.js", max_age=86400)


@bp.route("/static/<path:filename>")
@public
def static(filename: str) -> Response:
    """The platform's own compiled styles and scripts."""
    return send_from_directory(ASSET_ROOT / "static", filename, max_age=3600)


@bp.route("/healthz")
@public
def healthz() -> tuple[Response, int]:
    """Is the database reachable and the schema at the latest migration? No personal data."""
    from marac.migrate import current_revision, head_revision

    database_ok, at_head = False, False
    session = db.read_only_session()  # a load balancer polls this: never take SQLite's write lock
    try:
        session.execute(text("SELECT 1"))
        database_ok = True
        at_head = current_revision(session) == head_revision()
    except Exception:
        current_app.logger.warning("health check: database unavailable")
    finally:
        session.close()
    healthy = database_ok and at_head
    body: dict[str, Any] = {"status": "ok" if healthy else "unavailable", "database": database_ok}
    body["migrations_at_head"] = at_head
    # Reported, never a reason to fail: the web tier stays healthy while the scheduler is down.
    body["scheduler"] = _scheduler_health() if at_head else {"last_beat": None, "age_seconds": None, "healthy": False}
    return jsonify(body), 200 if healthy else 503


def _scheduler_health() -> dict[str, Any]:
    """The scheduler's heartbeat (issue 6), as `marac.scheduler.heartbeat_status` reports it."""
    from marac.scheduler import heartbeat_status

    return heartbeat_status(db.utcnow())


def _load_user(token: str) -> Any:
    from marac.auth.services import load_session_user, session_end_reason

    user = load_session_user(token, db.utcnow())
    if user is None:
        g.marac_session_ended = session_end_reason(token) or "unknown"
    # Session bookkeeping (last seen, a timeout and its audit event, already flushed) is its own unit of work,
    # committed before the view starts.
    db.session.commit()
    return user


def _csp_nonce() -> str:
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(18)
    return str(g.csp_nonce)


def _security_headers(response: Response) -> Response:
    nonce = _csp_nonce()
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; "
        f"script-src 'self' 'nonce-{nonce}'; "
        "style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cross-Origin-Opener-Policy"] = "same-origin"
    response.headers["Cross-Origin-Resource-Policy"] = "same-origin"
    response.headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
    if request.endpoint not in {"web.govuk_images", "web.govuk_script", "web.static"}:
        response.headers["Cache-Control"] = "no-store"
        response.headers["Pragma"] = "no-cache"
    if current_app.config["MARAC_TLS"] or request.is_secure:
        response.headers["Strict-Transport-Security"] = "max-age=63072000; includeSubDomains"
    return response


def _render_error(error: HTTPException) -> tuple[str, int]:
    code = error.code or 500
    db.session.rollback()
    template = f"errors/{code}.html" if code in ERROR_CODES else "errors/generic.html"
    extra = _too_large_context() if code == 413 else {}
    return render_template(template, error=error, code=code, **extra), code


def _csrf_error(error: CSRFError) -> tuple[str, int]:
    db.session.rollback()
    return render_template("errors/400.html", code=400, csrf=True), 400


def _unexpected(error: Exception) -> tuple[str, int]:
    if isinstance(error, HTTPException):
        return _render_error(error)
    db.session.rollback()
    # Frames only, never the message: database errors quote the values that caused them (names, addresses).
    frames = "".join(traceback.format_tb(error.__traceback__))
    current_app.logger.error("unhandled %s on %s\n%s", type(error).__name__, request.endpoint, frames)
    return render_template("errors/500.html", code=500), 500


LONDON = ZoneInfo("Europe/London")


def london(value: datetime | None, fmt: str = "%-d %b %Y, %H:%M") -> str:
    """Show a UTC time in Europe/London, as practitioners read it (`fmt` for another strftime layout)."""
    if value is None:
        return ""
    return value.astimezone(LONDON).strftime(fmt)


def _template_globals() -> dict[str, Any]:
    return {
        "now": db.utcnow(),
        "csp_nonce": _csp_nonce,
        "can": lambda permission: can(current_user, Permission(permission)),
        "can_record_encompass": lambda: can_record_incidents(current_user),
        "service_name": current_app.config["MARAC_SERVICE_NAME"],
        "protective_marking": "OFFICIAL-SENSITIVE",
    }


def init_app(app: Flask) -> None:
    """Wire permission enforcement, session loading, headers, error pages and the asset routes."""
    from marac.extensions import login_manager

    login_manager.user_loader(_load_user)
    app.register_blueprint(bp)
    app.url_value_preprocessor(apply_upload_limit)
    app.before_request(refuse_nul_bytes)
    app.before_request(access.enforce_route_permission)
    app.after_request(_security_headers)
    app.context_processor(_template_globals)
    app.add_template_filter(london, "london")
    for code in ERROR_CODES:
        app.register_error_handler(code, _render_error)
    app.register_error_handler(CSRFError, _csrf_error)
    app.register_error_handler(Exception, _unexpected)
