"""Recording an incident on a case: it is shown, counts towards escalation, and makes a risk review due."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

from flask import Flask
from sqlalchemy import func, select

from marac import db
from marac.access import Role
from marac.cases.models import CaseEvent, Incident
from marac.orgs.models import AgencyKind
from marac.people.models import PersonKind
from tests.conftest import FakeClock
from tests.factories import login_as, make_agency, make_area, make_case, make_person, make_user, post_form


def text_of(response: Any) -> str:
    """The page's words."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def _setup(app: Flask, clock: FakeClock) -> tuple[Any, Any, str]:
    area = make_area()
    police = make_agency(AgencyKind.POLICE, [area])
    officer = make_user(Role.REFERRER, agency=police)
    victim = make_person(actor=officer.user, date_of_birth=date(1990, 1, 1))
    perpetrator = make_person(PersonKind.PERPETRATOR, actor=officer.user)
    case = make_case(area=area, agency=police, victim=victim, perpetrator=perpetrator, actor=officer.user)
    browser = app.test_client()
    login_as(browser, officer, clock)
    return browser, case, f"/cases/{case.public_id}/incidents/new"


def form(**overrides: Any) -> dict[str, Any]:
    """A complete incident form."""
    values: dict[str, Any] = {
        "occurred_on": ["20", "11", "2026"],
        "incident_type": "domestic_abuse",
        "perpetrator": "",
        "police_reference": "NV/26/004512",
        "children_present": "yes",
        "summary": "Neighbours called police after shouting; door damaged",
    }
    values.update(overrides)
    return values


def test_an_incident_is_recorded_shown_sealed_and_makes_a_review_due(app: Flask, clock: FakeClock) -> None:
    browser, case, path = _setup(app, clock)

    response = post_form(browser, path, form())

    assert response.status_code == 302
    page = text_of(browser.get(f"/cases/{case.public_id}"))
    assert "NV/26/004512" in page
    assert "Neighbours called police" in page
    incident = db.session.scalars(select(Incident).where(Incident.case_id == case.id)).one()
    assert incident.children_present is True
    raw = db.session.execute(select(Incident.police_reference_enc).where(Incident.id == incident.id)).scalar_one()
    assert b"NV/26/004512" not in bytes(raw)
    review = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)).one()
    assert (review.kind, review.review_due_on) == ("new_incident", date(2026, 11, 25))


def test_impossible_incident_dates_are_explained_and_nothing_is_saved(app: Flask, clock: FakeClock) -> None:
    browser, _case, path = _setup(app, clock)

    future = post_form(browser, path, form(occurred_on=["1", "1", "2027"]))
    before_birth = post_form(browser, path, form(occurred_on=["31", "12", "1989"]))
    not_a_date = post_form(browser, path, form(occurred_on=["31", "2", "2026"]))
    unknown_type = post_form(browser, path, form(incident_type="picnic"))

    assert future.status_code == 400
    assert "today or in the past" in text_of(future)
    assert before_birth.status_code == 400
    assert "before the victim was born" in text_of(before_birth)
    assert not_a_date.status_code == 400
    assert "must be a real date" in text_of(not_a_date)
    assert unknown_type.status_code == 400
    assert db.session.scalar(select(func.count(Incident.id))) == 0


def test_someone_outside_the_case_cannot_record_an_incident(app: Flask, clock: FakeClock) -> None:
    _browser, _case, path = _setup(app, clock)
    stranger = app.test_client()
    login_as(stranger, make_user(Role.AGENCY_REP), clock)

    assert stranger.get(path).status_code == 404
