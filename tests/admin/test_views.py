"""Administration: areas, agencies and users are set up, changed and refused the way an administrator sees it."""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.auth import passwords
from marac.auth.models import User
from marac.orgs.models import Agency, Area
from tests.conftest import FakeClock
from tests.factories import Account, login_as, make_agency, make_area, make_user, post_form

ENROL_HEADING = "Set up your authenticator app"
TEMPORARY_PASSWORD = re.compile(r'id="temporary-password">([^<]+)<')


@pytest.fixture
def admin(client: FlaskClient, clock: FakeClock) -> Account:
    """A platform administrator, signed in on `client`."""
    account = make_user(Role.ADMIN)
    login_as(client, account, clock)
    return account


def count(model: type[Any]) -> int:
    """Rows in a model's table."""
    return db.session.scalar(select(func.count()).select_from(model)) or 0


def text_of(response: Any) -> str:
    """The page as a reader sees the words (entities decoded)."""
    return html.unescape(response.get_data(as_text=True))


def events(action: str, object_id: str) -> list[AuditEvent]:
    """Audit events of one action on one object."""
    query = select(AuditEvent).where(AuditEvent.action == action, AuditEvent.object_id == object_id)
    return list(db.session.scalars(query.order_by(AuditEvent.seq)))


def fresh(model: type[Any], public_id: str) -> Any:
    """The object as the database now holds it."""
    db.session.expire_all()
    return db.session.scalars(select(model).where(model.public_id == public_id)).one()


def other_client(app: Flask) -> FlaskClient:
    """A second browser."""
    return app.test_client()


# --- areas ---------------------------------------------------------------------------------------------------------


def test_admin_creates_area(client: FlaskClient, admin: Account) -> None:
    response = post_form(client, "/admin/areas/new", {"name": "  Westshire   MARAC ", "is_active": "y"})

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/areas"
    area = db.session.scalars(select(Area).where(Area.name == "Westshire MARAC")).one()
    assert area.is_active
    [event] = events("admin.area_created", area.public_id)
    assert (event.actor_user_id, event.outcome) == (admin.user.id, "success")
    page = text_of(client.get("/admin/areas"))
    assert "Area saved." in page
    assert "Westshire MARAC" in page


def test_admin_renames_and_retires_area(client: FlaskClient, admin: Account) -> None:
    area = make_area("Old Town MARAC")
    db.session.commit()

    response = post_form(client, f"/admin/areas/{area.public_id}", {"name": "New Town MARAC"})

    assert response.status_code == 302
    changed = fresh(Area, area.public_id)
    assert (changed.name, changed.is_active) == ("New Town MARAC", False)
    [event] = events("admin.area_updated", area.public_id)
    assert event.actor_user_id == admin.user.id
    assert event.details == {"is_active": False}
    assert "Not in use" in text_of(client.get("/admin/areas"))


# --- agencies ------------------------------------------------------------------------------------------------------


def test_admin_creates_agency_serving_chosen_areas(client: FlaskClient, admin: Account) -> None:
    north, south, elsewhere = make_area("North MARAC"), make_area("South MARAC"), make_area("Elsewhere MARAC")
    db.session.commit()

    response = post_form(
        client,
        "/admin/agencies/new",
        {"name": "Eastfield Homes", "kind": "housing", "areas": [north.public_id, south.public_id], "is_active": "y"},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/agencies"
    agency = db.session.scalars(select(Agency).where(Agency.name == "Eastfield Homes")).one()
    assert agency.kind == "housing"
    assert [a.name for a in agency.areas] == ["North MARAC", "South MARAC"]
    assert elsewhere not in agency.areas
    [event] = events("admin.agency_created", agency.public_id)
    assert event.actor_user_id == admin.user.id
    assert event.details == {"kind": "housing", "areas": [north.public_id, south.public_id], "is_active": True}
    assert "Eastfield Homes" in text_of(client.get("/admin/agencies"))


def test_admin_changes_areas_an_agency_serves(client: FlaskClient, admin: Account) -> None:
    north, south = make_area(), make_area()
    agency = make_agency(areas=[north], name="Westgate Police")
    db.session.commit()
    form_page = text_of(client.get(f"/admin/agencies/{agency.public_id}"))
    assert re.search(rf'value="{north.public_id}"\s+checked', form_page)

    response = post_form(
        client,
        f"/admin/agencies/{agency.public_id}",
        {"name": "Westgate Police", "kind": "police", "areas": [south.public_id], "is_active": "y"},
    )

    assert response.status_code == 302
    assert [a.public_id for a in fresh(Agency, agency.public_id).areas] == [south.public_id]
    [event] = events("admin.agency_updated", agency.public_id)
    assert event.details == {"kind": "police", "areas": [south.public_id], "is_active": True}


# --- users ---------------------------------------------------------------------------------------------------------


def test_admin_creates_user_who_must_change_temporary_password(
    app: Flask, client: FlaskClient, clock: FakeClock, admin: Account
) -> None:
    area = make_area()
    agency = make_agency(areas=[area, make_area()])
    db.session.commit()

    response = post_form(
        client,
        "/admin/users/new",
        {
            "email": "New.Person@Example.org",
            "display_name": "Nia Person",
            "agency": agency.public_id,
            "roles": ["idva", "chair"],
            "areas": [area.public_id],
        },
    )

    assert response.status_code == 200
    page = text_of(response)
    assert "Account created" in page
    match = TEMPORARY_PASSWORD.search(page)
    assert match
    secret = match.group(1)
    user = db.session.scalars(select(User).where(User.email == "new.person@example.org")).one()
    assert (user.display_name, user.agency_id) == ("Nia Person", agency.id)
    assert user.role_names == ["chair", "idva"]
    assert [a.public_id for a in user.areas] == [area.public_id]
    assert user.must_change_password
    assert user.totp_secret is None
    assert secret not in user.password_hash
    assert passwords.verify_password(user.password_hash, secret)
    [event] = events("admin.user_created", user.public_id)
    assert event.actor_user_id == admin.user.id
    assert event.details == {"roles": ["chair", "idva"], "agency": agency.public_id}
    for path in ("/admin/users", f"/admin/users/{user.public_id}"):
        assert secret not in client.get(path).get_data(as_text=True)  # shown once only

    newcomer = other_client(app)
    assert post_form(newcomer, "/sign-in", {"email": user.email, "password": secret}).status_code == 302
    assert ENROL_HEADING in text_of(newcomer.get("/sign-in/code"))
    db.session.expire_all()
    pending = db.session.get(User, user.id).totp_pending_secret
    assert isinstance(pending, str)
    code = pyotp.TOTP(pending).at(clock())
    assert post_form(newcomer, "/sign-in/code", {"code": code}).status_code == 302
    home = newcomer.get("/")
    assert home.status_code == 302
    assert home.headers["Location"] == "/account/password"
    assert newcomer.get("/admin/users").headers["Location"] == "/account/password"


def user_form(agency: Agency, roles: list[str], areas: list[Area] | None = None, name: str = "Sam Edit") -> dict:
    """What the user form posts."""
    return {
        "display_name": name,
        "agency": agency.public_id,
        "roles": roles,
        "areas": [a.public_id for a in areas or []],
    }


def test_admin_edits_user_roles_agency_and_areas_and_signs_them_out(
    app: Flask, client: FlaskClient, clock: FakeClock, admin: Account
) -> None:
    target = make_user(Role.REFERRER)
    area = make_area()
    new_agency = make_agency(areas=[area])
    db.session.commit()
    target_browser = other_client(app)
    login_as(target_browser, target, clock)

    response = post_form(
        client,
        f"/admin/users/{target.user.public_id}",
        user_form(new_agency, ["supervisor", "agency_rep"], [area], name="Sam Edited"),
    )

    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/users"
    changed = fresh(User, target.user.public_id)
    assert (changed.display_name, changed.agency_id) == ("Sam Edited", new_agency.id)
    assert changed.role_names == ["agency_rep", "supervisor"]
    assert [a.id for a in changed.areas] == [area.id]
    [event] = events("admin.user_updated", target.user.public_id)
    assert event.actor_user_id == admin.user.id
    assert event.details == {
        "roles": ["agency_rep", "supervisor"],
        "agency": new_agency.public_id,
        "access_changed": True,
    }
    assert target_browser.get("/").headers["Location"].startswith("/sign-in")


def test_admin_disables_user_who_is_signed_out_and_cannot_sign_in(
    app: Flask, client: FlaskClient, clock: FakeClock, admin: Account
) -> None:
    target = make_user(Role.IDVA)
    target_browser = other_client(app)
    login_as(target_browser, target, clock)
    path = f"/admin/users/{target.user.public_id}"

    response = post_form(client, f"{path}/disable", {}, form_path=path)

    assert response.status_code == 302
    assert response.headers["Location"] == path
    changed = fresh(User, target.user.public_id)
    assert not changed.is_active
    assert changed.disabled_at == clock()
    [event] = events("admin.user_disabled", target.user.public_id)
    assert event.actor_user_id == admin.user.id
    page = text_of(client.get(path))
    assert "Account disabled and signed out everywhere." in page
    assert "Enable account" in page
    assert target_browser.get("/").headers["Location"].startswith("/sign-in")
    retry = post_form(other_client(app), "/sign-in", {"email": target.email, "password": target.password})
    assert retry.status_code == 400


def test_admin_enables_disabled_user(client: FlaskClient, admin: Account) -> None:
    target = make_user(Role.IDVA)
    path = f"/admin/users/{target.user.public_id}"
    post_form(client, f"{path}/disable", {}, form_path=path)

    response = post_form(client, f"{path}/enable", {}, form_path=path)

    assert response.status_code == 302
    changed = fresh(User, target.user.public_id)
    assert changed.is_active
    assert changed.disabled_at is None
    assert len(events("admin.user_enabled", target.user.public_id)) == 1


def test_admin_cannot_disable_own_account(client: FlaskClient, admin: Account) -> None:
    path = f"/admin/users/{admin.user.public_id}"
    response = post_form(client, f"{path}/disable", {}, form_path=path)
    assert response.status_code == 302
    assert fresh(User, admin.user.public_id).is_active
    assert "You cannot disable your own account" in text_of(client.get(path))
    assert events("admin.user_disabled", admin.user.public_id) == []


def test_admin_resets_user_clearing_mfa_and_password(
    app: Flask, client: FlaskClient, clock: FakeClock, admin: Account
) -> None:
    target = make_user(Role.KEY_ADULT)
    path = f"/admin/users/{target.user.public_id}"

    response = post_form(client, f"{path}/reset", {}, form_path=path)

    assert response.status_code == 200
    page = text_of(response)
    assert "Account reset" in page
    match = TEMPORARY_PASSWORD.search(page)
    assert match
    changed = fresh(User, target.user.public_id)
    assert (changed.totp_secret, changed.totp_pending_secret, changed.mfa_enrolled_at) == (None, None, None)
    assert changed.must_change_password
    assert passwords.verify_password(changed.password_hash, match.group(1))
    assert not passwords.verify_password(changed.password_hash, target.password)
    [event] = events("admin.user_reset", target.user.public_id)
    assert event.actor_user_id == admin.user.id
    assert event.details == {"mfa_cleared": True}
    assert "Not set up yet" in text_of(client.get(path))


# --- refused input -------------------------------------------------------------------------------------------------


def _nothing() -> dict[str, str]:
    return {}


def _existing_area() -> dict[str, str]:
    make_area("Northvale MARAC")
    db.session.commit()
    return {}


def _existing_agency() -> dict[str, str]:
    make_agency(name="Northvale Police")
    db.session.commit()
    return {}


def _agency_for_user() -> dict[str, str]:
    agency = make_agency()
    db.session.commit()
    return {"agency": agency.public_id}


def _existing_user() -> dict[str, str]:
    existing = make_user(Role.IDVA)
    return {"agency": existing.user.agency.public_id, "email": existing.email.upper()}


NEW_USER = {"email": "someone@example.org", "display_name": "Someone New", "roles": ["idva"]}

BAD_INPUT: list[tuple[str, str, Callable[[], dict[str, str]], dict[str, Any], str, str]] = [
    ("area-empty-name", "/admin/areas/new", _nothing, {"name": "   "}, "Enter the area name", "#name"),
    ("area-too-long", "/admin/areas/new", _nothing, {"name": "x" * 121}, "Area name must be 120 characters", "#name"),
    (
        "area-duplicate",
        "/admin/areas/new",
        _existing_area,
        {"name": " northvale  MARAC"},
        "An area with this name already exists",
        "#name",
    ),
    (
        "agency-empty-name",
        "/admin/agencies/new",
        _nothing,
        {"name": "", "kind": "police"},
        "Enter the agency name",
        "#name",
    ),
    (
        "agency-no-kind",
        "/admin/agencies/new",
        _nothing,
        {"name": "Northvale Fire"},
        "Select the kind of agency",
        "#kind",
    ),
    (
        "agency-duplicate",
        "/admin/agencies/new",
        _existing_agency,
        {"name": "NORTHVALE POLICE", "kind": "police"},
        "An agency with this name already exists",
        "#name",
    ),
    (
        "user-duplicate-email",
        "/admin/users/new",
        _existing_user,
        NEW_USER,
        "An account with this email address already exists",
        "#email",
    ),
    (
        "user-no-role",
        "/admin/users/new",
        _agency_for_user,
        {**NEW_USER, "roles": []},
        "Select at least one role",
        "#roles",
    ),
    (
        "user-invalid-email",
        "/admin/users/new",
        _agency_for_user,
        {**NEW_USER, "email": "someone.example.org"},
        "Enter an email address in the correct format, like name@example.org",
        "#email",
    ),
    (
        "user-empty-name",
        "/admin/users/new",
        _agency_for_user,
        {**NEW_USER, "display_name": " "},
        "Enter the person's name",
        "#display_name",
    ),
    ("user-no-agency", "/admin/users/new", _nothing, {**NEW_USER, "agency": ""}, "Select the agency", "#agency"),
    (
        "user-unknown-role",
        "/admin/users/new",
        _agency_for_user,
        {**NEW_USER, "roles": ["god"]},
        "is not a valid choice",
        "#roles",
    ),
]


@pytest.mark.parametrize(
    ("path", "setup", "data", "message", "anchor"),
    [case[1:] for case in BAD_INPUT],
    ids=[case[0] for case in BAD_INPUT],
)
def test_bad_input_shows_error_summary_and_saves_nothing(
    client: FlaskClient,
    admin: Account,
    path: str,
    setup: Callable[[], dict[str, str]],
    data: dict[str, Any],
    message: str,
    anchor: str,
) -> None:
    prepared = setup()
    form = {**data, **prepared}
    before = {model: count(model) for model in (Area, Agency, User, AuditEvent)}

    response = post_form(client, path, form)

    assert response.status_code == 400
    page = text_of(response)
    assert "There is a problem" in page
    assert message in page
    assert f'href="{anchor}"' in page
    assert page.count(message) >= 2, "the message shows in the summary and by the field"
    assert {model: count(model) for model in (Area, Agency, User, AuditEvent)} == before


def test_editing_user_without_role_keeps_their_roles(client: FlaskClient, admin: Account) -> None:
    target = make_user(Role.CHAIR)
    path = f"/admin/users/{target.user.public_id}"

    response = post_form(client, path, user_form(target.user.agency, []))

    assert response.status_code == 400
    assert "Select at least one role" in text_of(response)
    assert fresh(User, target.user.public_id).role_names == ["chair"]
    assert events("admin.user_updated", target.user.public_id) == []


# --- not found and not allowed -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/areas/{id}"),
        ("GET", "/admin/agencies/{id}"),
        ("GET", "/admin/users/{id}"),
        ("GET", "/admin/users/1"),
        ("POST", "/admin/areas/{id}"),
        ("POST", "/admin/users/{id}"),
        ("POST", "/admin/users/{id}/disable"),
        ("POST", "/admin/users/{id}/enable"),
        ("POST", "/admin/users/{id}/reset"),
    ],
)
def test_unknown_public_id_is_not_found(client: FlaskClient, admin: Account, method: str, path: str) -> None:
    url = path.format(id=uuid.uuid4())
    before = count(AuditEvent)
    if method == "GET":
        response = client.get(url)
    else:
        response = post_form(client, url, {"name": "Anything"}, form_path="/admin/users")
    assert response.status_code == 404
    assert count(AuditEvent) == before


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.ADMIN])
def test_other_roles_are_refused_and_change_nothing(client: FlaskClient, clock: FakeClock, role: Role) -> None:
    target = make_user(Role.IDVA)
    account = make_user(role)
    login_as(client, account, clock)
    areas_before = count(Area)

    created = post_form(client, "/admin/areas/new", {"name": "Sneaky MARAC"}, form_path="/")
    disabled = post_form(client, f"/admin/users/{target.user.public_id}/disable", {}, form_path="/")

    assert (created.status_code, disabled.status_code) == (403, 403)
    assert "You do not have access to this page" in text_of(created)
    assert count(Area) == areas_before
    assert fresh(User, target.user.public_id).is_active
    denied = db.session.scalars(
        select(AuditEvent.object_id).where(AuditEvent.actor_user_id == account.user.id, AuditEvent.outcome == "denied")
    ).all()
    assert denied == ["admin.area", "admin.disable_user"]


# --- separation of duties --------------------------------------------------------------------------------------


def test_web_admin_cannot_grant_the_dpo_role(client: FlaskClient, admin: Account) -> None:
    target = make_user(Role.REFERRER)
    agency = target.user.agency

    response = post_form(client, f"/admin/users/{target.user.public_id}", user_form(agency, ["referrer", "dpo"]))

    assert response.status_code == 400
    assert "granted on the server with the marac command" in text_of(response)
    assert fresh(User, target.user.public_id).role_names == ["referrer"]


def test_web_admin_cannot_create_another_administrator(client: FlaskClient, admin: Account) -> None:
    before = count(User)
    data = {"email": "second.admin@example.org", **user_form(admin.user.agency, ["admin"])}

    response = post_form(client, "/admin/users/new", data)

    assert response.status_code == 400
    assert "granted on the server" in text_of(response)
    assert count(User) == before


def test_admin_cannot_add_roles_to_their_own_account(client: FlaskClient, admin: Account) -> None:
    response = post_form(
        client, f"/admin/users/{admin.user.public_id}", user_form(admin.user.agency, ["admin", "idva"])
    )

    assert response.status_code == 400
    assert "cannot hold any other role" in text_of(response)
    assert fresh(User, admin.user.public_id).role_names == ["admin"]


def test_administrator_role_cannot_be_combined_with_case_roles(app: Flask) -> None:
    runner = app.test_cli_runner()
    agency = make_agency()
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "x@example.org",
            "--name",
            "X",
            "--agency",
            agency.name,
            "--role",
            "admin",
            "--role",
            "coordinator",
        ]
    )
    assert result.exit_code == 1
    assert "cannot hold any other role" in result.output


def test_web_admin_cannot_reset_a_dpo_account(client: FlaskClient, admin: Account) -> None:
    dpo = make_user(Role.DPO)
    old_hash = dpo.user.password_hash

    response = post_form(
        client, f"/admin/users/{dpo.user.public_id}/reset", {}, form_path=f"/admin/users/{dpo.user.public_id}"
    )

    assert response.status_code == 302
    assert "reset on the server with marac users reset" in text_of(client.get(response.headers["Location"]))
    kept = fresh(User, dpo.user.public_id)
    assert (kept.password_hash, kept.totp_secret) == (old_hash, dpo.totp_secret)


def test_admin_sets_an_areas_risk_and_referral_thresholds(client: FlaskClient, admin: Account) -> None:
    area = make_area()
    path = f"/admin/areas/{area.public_id}"
    fields = {"name": area.name, "is_active": "y", "medium_risk_from": "9", "high_risk_from": "13"}

    refused = post_form(client, path, {**fields, "medium_risk_from": "13"})
    assert refused.status_code == 400
    assert "medium-risk score must be below the high-risk score" in refused.get_data(as_text=True)

    saved = post_form(client, path, {**fields, "marac_threshold": "13", "referral_target_days": "3"})
    assert saved.status_code == 302
    db.session.expire_all()
    changed = db.session.get(Area, area.id)
    assert (changed.medium_risk_from, changed.high_risk_from, changed.marac_threshold) == (9, 13, 13)
    assert changed.referral_target_days == 3
