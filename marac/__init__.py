"""marac: MARAC and Operation Encompass for UK safeguarding partnerships."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import ChainableUndefined, ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
from werkzeug.middleware.proxy_fix import ProxyFix

from marac import db
from marac.config import load_settings

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the application: settings, database, extensions, blueprints, CLI, error pages, security headers."""
    config = dict(config or {})
    settings = load_settings(_environment_with(config))
    settings.update(config)
    app = Flask(__name__, static_folder=None, template_folder=None, instance_path=settings["MARAC_INSTANCE_PATH"])
    app.config.update(settings)
    _configure_cookies(app)
    _configure_templates(app)
    _configure_logging(app)
    if app.config.get("MARAC_PROXY_COUNT"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=int(app.config["MARAC_PROXY_COUNT"]), x_proto=1)  # type: ignore[method-assign]
    db.init_app(app, bind=app.config.get("MARAC_DB_BIND"))
    _init_extensions(app)
    from marac.web import PublicIdConverter

    app.url_map.converters["pid"] = PublicIdConverter
    _register_blueprints(app)
    from marac import web

    web.init_app(app)
    from marac.cli import register_commands

    register_commands(app)
    return app


def _environment_with(config: Mapping[str, Any]) -> dict[str, str]:
    """The process environment, overlaid with explicit settings that decide how settings are loaded."""
    env = dict(os.environ)
    for key in ("MARAC_ENV", "MARAC_INSTANCE_PATH", "MARAC_DATABASE_URL", "MARAC_AUDIT_KEY", "MARAC_MASTER_KEY"):
        if key in config:
            env[key] = str(config[key])
    if "SECRET_KEY" in config:
        env["MARAC_SECRET_KEY"] = str(config["SECRET_KEY"])
    return env


def _configure_cookies(app: Flask) -> None:
    tls = bool(app.config["MARAC_TLS"])
    app.config.update(
        SESSION_COOKIE_NAME="__Host-marac" if tls else "marac_session",
        SESSION_COOKIE_SECURE=tls,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_PATH="/",
        PREFERRED_URL_SCHEME="https" if tls else "http",
        WTF_CSRF_TIME_LIMIT=None,  # the CSRF token lives as long as the (server-side limited) session
        # Referrer-Policy: no-referrer means browsers send no Referer, so Flask-WTF's HTTPS Referer check would
        # refuse every form; the session-bound token and the SameSite __Host- cookie do that job.
        WTF_CSRF_SSL_STRICT=False,
        RATELIMIT_STORAGE_URI=app.config["RATELIMIT_STORAGE_URI"],
        RATELIMIT_HEADERS_ENABLED=False,
    )


def _configure_templates(app: Flask) -> None:
    app.jinja_env.undefined = ChainableUndefined
    app.jinja_env.trim_blocks = True
    app.jinja_env.lstrip_blocks = True
    app.jinja_loader = ChoiceLoader(
        [
            FileSystemLoader(str(PROJECT_ROOT / "templates")),
            PrefixLoader(
                {
                    "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
                    "govuk_frontend_wtf": PackageLoader("govuk_frontend_wtf"),
                }
            ),
        ]
    )


def _configure_logging(app: Flask) -> None:
    import structlog

    level = getattr(logging, str(app.config.get("MARAC_LOG_LEVEL", "INFO")), logging.INFO)
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=False,
    )
    for warning in app.config.get("MARAC_WARNINGS", []):
        structlog.get_logger("marac.config").warning("unsafe_setting", detail=warning)


def _init_extensions(app: Flask) -> None:
    from govuk_frontend_wtf.main import WTFormsHelpers

    from marac.extensions import csrf, limiter, login_manager

    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.session_protection = None  # server-side sessions do this job
    login_manager.login_view = "auth.sign_in"
    login_manager.login_message = None
    WTFormsHelpers(app)


def _register_blueprints(app: Flask) -> None:
    from marac.actions.views import bp as actions_bp
    from marac.admin.views import bp as admin_bp
    from marac.audit.views import bp as audit_bp
    from marac.auth.views import bp as auth_bp
    from marac.cases.casework_views import bp as casework_bp
    from marac.cases.referral_views import bp as referrals_bp
    from marac.cases.views import bp as cases_bp
    from marac.encompass.views import bp as encompass_bp
    from marac.home.views import bp as home_bp
    from marac.meetings.views import bp as meetings_bp
    from marac.notify.views import bp as notify_bp
    from marac.people.views import bp as people_bp
    from marac.sharing.views import bp as sharing_bp

    blueprints = (
        auth_bp,
        home_bp,
        admin_bp,
        audit_bp,
        cases_bp,
        referrals_bp,
        casework_bp,
        people_bp,
        sharing_bp,
        meetings_bp,
        actions_bp,
        notify_bp,
        encompass_bp,
    )
    for blueprint in blueprints:
        app.register_blueprint(blueprint)
