"""Server-side sessions: revocation on disable and access change, sign-out, idle and absolute timeouts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask.testing import FlaskClient

from marac import db
from marac.access import Role
from marac.auth.accounts import set_user_active, update_user
from marac.auth.models import User
from tests.auth.helpers import audit_events, fresh, sessions_of, text_of
from tests.factories import Account, csrf_token, login_as, make_agency, make_user, post_form

COOKIE = "marac_session"


def _is_sent_to_sign_in(response: Any) -> bool:
    return response.status_code == 302 and response.headers["Location"].startswith("/sign-in")


def _signed_in(client: FlaskClient, account: Account, clock: Any) -> None:
    login_as(client, account, clock)
    assert client.get("/").status_code == 200


def _change_access(user: User, clock: Any, **changes: Any) -> None:
    fields: dict[str, Any] = {
        "display_name": user.display_name,
        "agency": user.agency,
        "roles": user.role_names,
        "areas": list(user.areas),
    }
    update_user(None, user, now=clock(), **{**fields, **changes})
    db.session.commit()


# --- revocation ------------------------------------------------------------------------------------------------------


def test_disabled_user_is_signed_out_at_their_next_request(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)

    set_user_active(None, account.user, False, clock())
    db.session.commit()
    response = client.get("/")

    assert _is_sent_to_sign_in(response)
    [row] = sessions_of(account.user)
    assert (row.revoked_at, row.revoked_reason) == (clock(), "account_disabled")
    assert "Sign in to MARAC" in text_of(client.get(response.headers["Location"]))


def test_disabled_user_cannot_post_either(client: FlaskClient, clock: Any) -> None:
    account = make_user(Role.ADMIN)
    _signed_in(client, account, clock)
    token = csrf_token(client, "/admin/areas/new")

    set_user_active(None, account.user, False, clock())
    db.session.commit()
    response = client.post("/admin/areas/new", data={"csrf_token": token, "name": "Northmoor MARAC"})

    assert response.status_code == 401
    assert "You need to sign in" in text_of(response)
    assert "Northmoor MARAC" not in text_of(client.get("/sign-in"))


def test_admin_disabling_a_user_in_the_browser_signs_them_out(
    client: FlaskClient, other_client: FlaskClient, clock: Any
) -> None:
    account = make_user()
    admin = make_user(Role.ADMIN)
    _signed_in(client, account, clock)
    login_as(other_client, admin, clock)

    page = f"/admin/users/{account.user.public_id}"
    response = post_form(other_client, f"{page}/disable", {}, form_path=page)
    assert response.headers["Location"] == page

    assert _is_sent_to_sign_in(client.get("/"))
    user = fresh(account.user)
    assert (user.is_active, user.disabled_at) == (False, clock())
    [event] = audit_events("admin.user_disabled", user)
    assert event.actor_user_id == admin.user.id


def test_role_change_signs_the_user_out(client: FlaskClient, clock: Any) -> None:
    account = make_user(Role.REFERRER)
    _signed_in(client, account, clock)

    _change_access(account.user, clock, roles=[Role.IDVA.value])

    assert _is_sent_to_sign_in(client.get("/"))
    [row] = sessions_of(account.user)
    assert row.revoked_reason == "access_changed"


def test_agency_change_signs_the_user_out(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)

    _change_access(account.user, clock, agency=make_agency())

    assert _is_sent_to_sign_in(client.get("/"))
    assert sessions_of(account.user)[0].revoked_reason == "access_changed"


def test_area_limit_change_signs_the_user_out(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)

    _change_access(account.user, clock, areas=list(account.user.agency.areas))

    assert _is_sent_to_sign_in(client.get("/"))


def test_new_roles_apply_after_signing_in_again(client: FlaskClient, clock: Any) -> None:
    account = make_user(Role.REFERRER)
    _signed_in(client, account, clock)
    assert client.get("/admin/").status_code == 403

    _change_access(account.user, clock, roles=[Role.ADMIN.value])
    login_as(client, account, clock)

    assert "Administration" in text_of(client.get("/admin/"))


def test_a_name_change_does_not_sign_the_user_out(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)

    _change_access(account.user, clock, display_name="Robin Example")

    response = client.get("/")
    assert response.status_code == 200
    assert "Welcome, Robin Example" in text_of(response)
    assert sessions_of(account.user)[0].revoked_at is None


def test_other_users_sessions_are_untouched(client: FlaskClient, other_client: FlaskClient, clock: Any) -> None:
    account, colleague = make_user(), make_user()
    _signed_in(client, account, clock)
    _signed_in(other_client, colleague, clock)

    set_user_active(None, account.user, False, clock())
    db.session.commit()

    assert _is_sent_to_sign_in(client.get("/"))
    assert other_client.get("/").status_code == 200


# --- sign-out --------------------------------------------------------------------------------------------------------


def test_sign_out_ends_the_session_on_the_server(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    stolen = cookie.value

    response = post_form(client, "/sign-out", {}, form_path="/")

    assert response.headers["Location"] == "/sign-in"
    assert "You have signed out." in text_of(client.get("/sign-in"))
    [row] = sessions_of(account.user)
    assert (row.revoked_at, row.revoked_reason) == (clock(), "signed_out")
    assert len(audit_events("auth.sign_out", account.user)) == 1

    client.set_cookie(COOKIE, stolen)
    assert _is_sent_to_sign_in(client.get("/"))


def test_signing_out_one_browser_leaves_the_other_signed_in(
    client: FlaskClient, other_client: FlaskClient, clock: Any
) -> None:
    account = make_user()
    _signed_in(client, account, clock)
    _signed_in(other_client, account, clock)

    post_form(client, "/sign-out", {}, form_path="/")

    assert _is_sent_to_sign_in(client.get("/"))
    assert other_client.get("/").status_code == 200


# --- timeouts --------------------------------------------------------------------------------------------------------


def test_session_survives_29_idle_minutes(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200
    clock.advance(minutes=29)
    assert client.get("/").status_code == 200
    assert sessions_of(account.user)[0].last_seen_at == clock()


def test_session_ends_after_30_idle_minutes(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)

    clock.advance(minutes=31)
    response = client.get("/")

    assert _is_sent_to_sign_in(response)
    [row] = sessions_of(account.user)
    assert (row.revoked_at, row.revoked_reason) == (clock(), "idle_timeout")
    [event] = audit_events("auth.session_ended", account.user)
    assert event.details == {"reason": "idle_timeout"}

    clock.advance(seconds=1)
    assert _is_sent_to_sign_in(client.get("/"))  # activity after the timeout does not revive it


def test_session_ends_after_12_hours_even_with_activity(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)
    started = sessions_of(account.user)[0].created_at

    for _ in range(36):  # every 20 minutes, up to exactly 12 hours after sign-in
        clock.advance(minutes=20)
        assert client.get("/").status_code == 200
    assert clock() - started == timedelta(hours=12)

    clock.advance(minutes=20)
    response = client.get("/")

    assert _is_sent_to_sign_in(response)
    assert sessions_of(account.user)[0].revoked_reason == "absolute_timeout"


def test_signing_in_again_after_a_timeout_works(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)
    clock.advance(minutes=31)
    assert _is_sent_to_sign_in(client.get("/"))

    _signed_in(client, account, clock)

    rows = sessions_of(account.user)
    assert [r.revoked_reason for r in rows] == ["idle_timeout", None]


def test_timed_out_user_is_told_why_once(client: FlaskClient, clock: Any) -> None:
    account = make_user()
    _signed_in(client, account, clock)
    clock.advance(minutes=31)

    first = client.get("/", follow_redirects=True).get_data(as_text=True)
    again = client.get("/", follow_redirects=True).get_data(as_text=True)

    assert "You were signed out after a period without activity" in first
    assert "Sign in to MARAC" in first
    assert "period without activity" not in again  # the stale cookie reference was dropped with the first notice


def test_user_whose_access_changed_is_told_to_sign_in_again(client: FlaskClient, clock: Any) -> None:
    account = make_user(Role.REFERRER)
    _signed_in(client, account, clock)
    user = fresh(account.user)
    update_user(None, user, display_name=user.display_name, agency=user.agency, roles=["idva"], areas=[], now=clock())
    db.session.commit()

    page = client.get("/", follow_redirects=True).get_data(as_text=True)

    assert "Your access was changed by an administrator" in page
