"""Web security: headers, cookies, CSRF, error pages, body size, route markers and the health check."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from marac import access
from marac.access import Role
from marac.auth.models import User
from marac.orgs.models import Area
from tests.auth.helpers import audit_events, count_rows, fresh, sessions_of, text_of
from tests.factories import csrf_token, login_as, make_agency, make_user, post_form

HTTPS = "https://localhost"


def _styled(page: str) -> bool:
    """The page uses the service's layout, with its protective marking."""
    return 'class="govuk-template"' in page and "OFFICIAL-SENSITIVE" in page


# --- headers and cookies ---------------------------------------------------------------------------------------------


def test_signed_in_page_has_a_strict_content_security_policy(client: FlaskClient, clock: Any) -> None:
    login_as(client, make_user(), clock)

    response = client.get("/")

    csp = response.headers["Content-Security-Policy"]
    [nonce] = re.findall(r'<script[^>]*nonce="([^"]+)"', text_of(response))
    assert f"script-src 'self' 'nonce-{nonce}'" in csp
    assert "'unsafe-inline'" not in csp
    assert "'unsafe-eval'" not in csp
    assert "frame-ancestors 'none'" in csp
    assert "object-src 'none'" in csp
    assert "base-uri 'none'" in csp
    assert "form-action 'self'" in csp
    assert nonce not in client.get("/").headers["Content-Security-Policy"]  # a fresh nonce every response


def test_signed_in_page_is_not_cached_framed_or_referred(client: FlaskClient, clock: Any) -> None:
    login_as(client, make_user(), clock)

    headers = client.get("/").headers

    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["Cache-Control"] == "no-store"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cross-Origin-Opener-Policy"] == "same-origin"
    assert "Strict-Transport-Security" not in headers  # plain HTTP in tests: HSTS would be ignored anyway


def test_session_cookie_is_http_only_and_same_site(client: FlaskClient) -> None:
    cookie = client.get("/sign-in").headers["Set-Cookie"]
    assert cookie.startswith("marac_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


class TestOverTls:
    """With MARAC_TLS on: HSTS, a __Host- cookie marked Secure, and sign-in still works in a browser."""

    @pytest.fixture
    def settings(self, settings: dict[str, Any]) -> dict[str, Any]:
        """Serve over TLS."""
        settings["MARAC_TLS"] = True
        return settings

    @pytest.fixture
    def client(self, app: Flask) -> FlaskClient:
        """A browser on https://localhost that, obeying Referrer-Policy: no-referrer, sends no Referer."""

        class HttpsClient(app.test_client_class):  # type: ignore[name-defined,misc]
            def open(self, *args: Any, **kwargs: Any) -> Any:
                if args and isinstance(args[0], str):
                    kwargs.setdefault("base_url", HTTPS)
                return super().open(*args, **kwargs)

        return HttpsClient(app, app.response_class, use_cookies=True)

    def test_responses_carry_hsts(self, client: FlaskClient) -> None:
        response = client.get("/sign-in")
        assert response.headers["Strict-Transport-Security"] == "max-age=63072000; includeSubDomains"

    def test_session_cookie_is_host_only_and_secure(self, client: FlaskClient) -> None:
        cookie = client.get("/sign-in").headers["Set-Cookie"]
        assert cookie.startswith("__Host-marac=")
        assert "Secure" in cookie
        assert "Path=/" in cookie
        assert "Domain=" not in cookie
        assert "HttpOnly" in cookie

    def test_sign_in_works_without_a_referer(self, client: FlaskClient, clock: Any) -> None:
        account = make_user()
        login_as(client, account, clock)
        response = client.get("/")
        assert response.status_code == 200
        assert "Welcome," in text_of(response)
        assert fresh(account.user).last_sign_in_at == clock()

    def test_a_form_from_another_site_is_still_refused(self, client: FlaskClient, clock: Any) -> None:
        account = make_user()
        login_as(client, account, clock)
        response = client.post("/sign-out", headers={"Referer": "https://evil.example/"})
        assert response.status_code == 400
        assert "The form had expired or was sent from another page." in text_of(response)
        assert sessions_of(account.user)[0].revoked_at is None


# --- CSRF ------------------------------------------------------------------------------------------------------------

AREA = "Csrfton MARAC"


@pytest.fixture
def admin_client(client: FlaskClient, clock: Any) -> FlaskClient:
    """A browser signed in as a platform administrator."""
    login_as(client, make_user(Role.ADMIN), clock)
    return client


@pytest.mark.parametrize("token", [None, "not-a-real-token"])
def test_admin_form_without_a_valid_token_saves_nothing(admin_client: FlaskClient, token: str | None) -> None:
    data = {"name": AREA, "is_active": "y"}
    if token is not None:
        data["csrf_token"] = token

    response = admin_client.post("/admin/areas/new", data=data)

    page = text_of(response)
    assert response.status_code == 400
    assert "The form had expired or was sent from another page." in page
    assert _styled(page)
    assert count_rows(Area, Area.name == AREA) == 0


def test_admin_form_with_the_token_saves(admin_client: FlaskClient) -> None:
    response = post_form(admin_client, "/admin/areas/new", {"name": AREA, "is_active": "y"})
    assert response.headers["Location"] == "/admin/areas"
    assert count_rows(Area, Area.name == AREA) == 1


def test_a_token_from_another_browser_is_refused(admin_client: FlaskClient, app: Flask) -> None:
    stranger = app.test_client()
    token = csrf_token(stranger, "/sign-in")

    response = admin_client.post("/admin/areas/new", data={"csrf_token": token, "name": AREA})

    assert response.status_code == 400
    assert count_rows(Area, Area.name == AREA) == 0


@pytest.mark.parametrize("with_token", [False, True])
def test_creating_a_user_needs_the_token(admin_client: FlaskClient, with_token: bool) -> None:
    agency = make_agency()
    data = {
        "email": "new.person@example.org",
        "display_name": "New Person",
        "agency": agency.public_id,
        "roles": [Role.REFERRER.value],
    }

    created_before = len(audit_events("admin.user_created"))

    if with_token:
        response = post_form(admin_client, "/admin/users/new", data)
    else:
        response = admin_client.post("/admin/users/new", data=data)

    assert count_rows(User, User.email == "new.person@example.org") == (1 if with_token else 0)
    assert ("The form had expired" in text_of(response)) is not with_token
    assert len(audit_events("admin.user_created")) == created_before + (1 if with_token else 0)


def test_sign_out_without_a_token_keeps_the_session(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    login_as(client, account, clock)

    response = client.post("/sign-out")

    assert response.status_code == 400
    assert "The form had expired or was sent from another page." in text_of(response)
    assert sessions_of(account.user)[0].revoked_at is None
    assert client.get("/").status_code == 200


def test_sign_in_without_a_token_checks_nothing(client: FlaskClient) -> None:
    account = make_user()

    response = client.post("/sign-in", data={"email": account.email, "password": "a wrong password here"})

    assert response.status_code == 400
    assert "The form had expired or was sent from another page." in text_of(response)
    assert fresh(account.user).failed_attempts == 0
    assert audit_events("auth.sign_in") == []


# --- error pages -----------------------------------------------------------------------------------------------------


def test_oversized_body_gets_the_too_large_page(client: FlaskClient, app: Flask) -> None:
    account = make_user()
    token = csrf_token(client, "/sign-in")
    padding = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)

    response = client.post(
        "/sign-in", data={"csrf_token": token, "email": account.email, "password": "wrong", "padding": padding}
    )

    page = text_of(response)
    assert response.status_code == 413
    assert '<h1 class="govuk-heading-l">What you sent is too large</h1>' in page
    assert _styled(page)
    assert response.headers["Cache-Control"] == "no-store"
    assert fresh(account.user).failed_attempts == 0


def test_oversized_admin_form_saves_nothing(admin_client: FlaskClient, app: Flask) -> None:
    token = csrf_token(admin_client, "/admin/areas/new")
    padding = "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)

    response = admin_client.post("/admin/areas/new", data={"csrf_token": token, "name": AREA, "padding": padding})

    assert response.status_code == 413
    assert "What you sent is too large" in text_of(response)
    assert count_rows(Area, Area.name == AREA) == 0


def test_unknown_page_gets_the_styled_not_found_page(client: FlaskClient) -> None:
    response = client.get("/no/such/page")

    page = text_of(response)
    assert response.status_code == 404
    assert '<h1 class="govuk-heading-l">Page not found</h1>' in page
    assert _styled(page)
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


def test_signed_in_user_sees_their_header_on_the_not_found_page(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    login_as(client, account, clock)
    page = text_of(client.get("/no/such/page"))
    assert "Page not found" in page
    assert "Sign out" in page


def test_wrong_method_gets_the_styled_page(client: FlaskClient) -> None:
    response = client.get("/sign-out")
    assert response.status_code == 405
    assert _styled(text_of(response))


def test_posting_to_a_protected_page_unsigned_in_gets_401(client: FlaskClient) -> None:
    token = csrf_token(client, "/sign-in")
    response = client.post("/admin/areas/new", data={"csrf_token": token, "name": AREA})
    assert response.status_code == 401
    assert "You need to sign in" in text_of(response)
    assert count_rows(Area, Area.name == AREA) == 0


def test_user_without_the_permission_gets_403_and_it_is_audited(client: FlaskClient, clock: Any) -> None:
    account = make_user(Role.REFERRER)
    login_as(client, account, clock)

    response = client.get("/admin/")

    assert response.status_code == 403
    assert _styled(text_of(response))
    [event] = audit_events("route.denied")
    assert (event.actor_user_id, event.outcome, event.object_id) == (account.user.id, "denied", "admin.index")


def test_every_route_declares_a_permission(app: Flask) -> None:
    unmarked = [
        rule.endpoint for rule in app.url_map.iter_rules() if access.route_permission(app, rule.endpoint) is None
    ]
    assert unmarked == []


@pytest.mark.parametrize("path", ["/", "/admin/", "/admin/users", "/audit/", "/account/password"])
def test_protected_pages_send_strangers_to_sign_in(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/sign-in?next=")


# --- health ----------------------------------------------------------------------------------------------------------


def test_health_check_needs_no_sign_in_and_reports_the_database(client: FlaskClient) -> None:
    response = client.get("/healthz")

    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "status": "ok",
        "database": True,
        "migrations_at_head": True,
        "scheduler": {"last_beat": None, "age_seconds": None, "healthy": False},
    }
    assert response.headers["Cache-Control"] == "no-store"
