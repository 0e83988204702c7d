"""A first end-to-end pass: sign in with MFA and reach the home page."""

from __future__ import annotations

from flask.testing import FlaskClient
from markupsafe import escape

from marac.access import Role
from tests.factories import login_as, make_user


def test_signed_in_user_sees_their_agency_on_home(client: FlaskClient, clock) -> None:  # type: ignore[no-untyped-def]
    account = make_user(Role.COORDINATOR)
    login_as(client, account, clock)
    page = client.get("/").get_data(as_text=True)
    assert escape(account.user.agency.name) in page
    assert "MARAC coordinator" in page
    assert "OFFICIAL-SENSITIVE" in page
