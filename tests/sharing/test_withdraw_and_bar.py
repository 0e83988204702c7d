"""Withdrawing a disclosure ends the agency's access; barring an account by email keeps it out of the case."""

from __future__ import annotations

import html
import re
from typing import Any

from flask import Flask
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.audit.models import AuditEvent
from marac.orgs.models import AgencyKind
from marac.sharing.models import Disclosure, MustNotReceive
from tests.conftest import FakeClock
from tests.factories import csrf_token, login_as, make_agency, make_area, make_case, make_disclosure, make_user


def text_of(response: Any) -> str:
    """The page's words."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def _world() -> tuple[Any, Any, Any, Any]:
    area = make_area()
    police = make_agency(AgencyKind.POLICE, [area])
    officer = make_user(Role.REFERRER, agency=police)
    housing = make_agency(AgencyKind.HOUSING, [area])
    case = make_case(area=area, agency=police, actor=officer.user)
    disclosure = make_disclosure(case, housing, officer.user)
    return case, officer, make_user(Role.AGENCY_REP, agency=housing), disclosure


def test_withdrawing_a_disclosure_ends_the_receiving_agencys_access(app: Flask, clock: FakeClock) -> None:
    case, officer, housing_user, disclosure = _world()
    housing = app.test_client()
    login_as(housing, housing_user, clock)
    assert housing.get(f"/cases/{case.public_id}").status_code == 200

    police = app.test_client()
    login_as(police, officer, clock)
    page = police.get(f"/cases/{case.public_id}")
    assert "Shared with other agencies" in text_of(page)
    token = csrf_token(police, f"/cases/{case.public_id}")
    response = police.post(
        f"/cases/{case.public_id}/disclosures/{disclosure.public_id}/withdraw", data={"csrf_token": token}
    )

    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(Disclosure, disclosure.id).withdrawn_at == clock()
    assert housing.get(f"/cases/{case.public_id}").status_code == 404
    assert "Withdrawn" in text_of(police.get(f"/cases/{case.public_id}"))
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "disclosure.withdraw")) is not None


def test_the_receiving_agency_cannot_withdraw_or_bar(app: Flask, clock: FakeClock) -> None:
    case, _officer, housing_user, disclosure = _world()
    housing = app.test_client()
    login_as(housing, housing_user, clock)
    token = csrf_token(housing, "/people/search")

    response = housing.post(
        f"/cases/{case.public_id}/disclosures/{disclosure.public_id}/withdraw", data={"csrf_token": token}
    )

    assert response.status_code == 403
    assert housing.get(f"/cases/{case.public_id}/must-not-receive").status_code == 403
    db.session.expire_all()
    assert db.session.get(Disclosure, disclosure.id).withdrawn_at is None


def test_barring_an_account_by_email_keeps_it_out_of_the_case(app: Flask, clock: FakeClock) -> None:
    case, officer, housing_user, _disclosure = _world()
    police = app.test_client()
    login_as(police, officer, clock)
    path = f"/cases/{case.public_id}/must-not-receive"

    unknown = police.post(path, data={"csrf_token": csrf_token(police, path), "email": "nobody@example.org"})
    assert unknown.status_code == 400
    assert "There is no account with that email address" in text_of(unknown)

    added = police.post(path, data={"csrf_token": csrf_token(police, path), "email": housing_user.email})
    assert added.status_code == 302
    again = police.post(path, data={"csrf_token": csrf_token(police, path), "email": housing_user.email})
    assert again.status_code == 400
    assert "already on the list" in text_of(again)
    assert housing_user.user.display_name in text_of(police.get(path))

    entries = db.session.scalars(select(MustNotReceive).where(MustNotReceive.user_id == housing_user.user.id)).all()
    assert len(entries) == 1
    housing = app.test_client()
    login_as(housing, housing_user, clock)
    assert housing.get(f"/cases/{case.public_id}").status_code == 404
