"""Odd input gets a clear 4xx, never a 500, and nothing is half-saved; assets serve only what pages need."""

from __future__ import annotations

import html
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marac import audit, db
from marac.access import Role
from marac.orgs.models import Area
from tests.factories import login_as, make_user, post_form


def _text(response: Any) -> str:
    return html.unescape(response.get_data(as_text=True))


@pytest.fixture
def admin_client(client: FlaskClient, clock: Any) -> FlaskClient:
    """A signed-in administrator."""
    login_as(client, make_user(Role.ADMIN), clock)
    return client


@pytest.mark.parametrize("path", ["/admin/users?agency=%00", "/audit/?object_id=a%00b", "/sign-in?next=/%00"])
def test_nul_bytes_in_the_address_get_a_400_page(admin_client: FlaskClient, path: str) -> None:
    response = admin_client.get(path)
    assert response.status_code == 400
    assert "There is a problem with your request" in _text(response)


def test_nul_bytes_in_a_form_save_nothing(admin_client: FlaskClient) -> None:
    before = db.session.scalar(select(func.count()).select_from(Area))
    response = post_form(admin_client, "/admin/areas/new", {"name": "North\x00vale", "is_active": "y"})
    assert response.status_code == 400
    assert db.session.scalar(select(func.count()).select_from(Area)) == before


@pytest.mark.parametrize("path", ["/admin/areas/nope", "/admin/users/%27%20or%201=1", "/admin/agencies/12345"])
def test_malformed_public_ids_are_not_found(admin_client: FlaskClient, path: str) -> None:
    response = admin_client.get(path)
    assert response.status_code == 404
    assert "Page not found" in _text(response)


@pytest.fixture
def dpo_client(client: FlaskClient, clock: Any) -> FlaskClient:
    """A signed-in data protection officer."""
    login_as(client, make_user(Role.DPO), clock)
    return client


@pytest.mark.parametrize("before", ["99999999999999999999999", "-5", "0"])
def test_audit_paging_out_of_range_is_a_400(dpo_client: FlaskClient, before: str) -> None:
    assert dpo_client.get("/audit/", query_string={"before": before}).status_code == 400


@pytest.mark.parametrize("field", ["date_from", "date_to"])
def test_audit_dates_far_in_the_future_are_explained(dpo_client: FlaskClient, field: str) -> None:
    response = dpo_client.get("/audit/", query_string={field: "9999-12-31"})
    assert response.status_code == 400
    assert "Enter a date between 1900 and 2999" in _text(response)


@pytest.mark.parametrize(
    "path",
    [
        "/assets/fonts/bold-b542beb274-v2.woff2",
        "/assets/./fonts/bold-b542beb274-v2.woff2",
        "/assets/images/../fonts/bold-b542beb274-v2.woff2",
        "/static/govuk/assets/fonts/bold-b542beb274-v2.woff2",
        "/static/govuk/govuk-frontend.min.css",
    ],
)
def test_gov_uk_font_and_other_package_files_are_not_served(client: FlaskClient, path: str) -> None:
    assert client.get(path).status_code == 404


def test_pages_get_their_script_and_images(client: FlaskClient) -> None:
    for path in ("/static/govuk/govuk-frontend.min.js", "/assets/images/favicon.ico"):
        with client.get(path) as response:
            assert response.status_code == 200
            assert response.data


def test_sign_in_redirect_keeps_the_path_but_not_the_query(client: FlaskClient) -> None:
    response = client.get("/audit/?user=someone%40example.org")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/audit/"


def test_audit_details_with_non_string_keys_still_verify(app: Any) -> None:
    audit.record("test.keys", object_type="thing", details={1: "one", "nested": {2: [3]}})
    db.session.flush()
    checked, problem = audit.verify_chain()
    assert problem is None
    assert checked >= 1


def test_an_unexpected_database_error_logs_no_values(
    app: Any, client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    from sqlalchemy import text

    from marac.access import public

    def clash() -> str:
        for public_id in ("a", "b"):
            db.session.execute(
                text("INSERT INTO areas (public_id, name, is_active, created_at) VALUES (:p, :n, true, :t)"),
                {"p": public_id, "n": "Jane Example-Secret", "t": db.utcnow()},
            )
        return "unreachable"

    app.add_url_rule("/clash", "clash", public(clash))

    response = client.get("/clash")

    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in _text(response)
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "unhandled IntegrityError on clash" in logged
    assert "Jane Example-Secret" not in logged
