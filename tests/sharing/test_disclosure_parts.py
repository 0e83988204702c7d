"""What a disclosure includes narrows what the receiving agency sees; it never widens field sensitivity."""

from __future__ import annotations

import html
import re
from typing import Any

from flask import Flask

from marac.access import Role
from marac.orgs.models import AgencyKind
from marac.people.models import PersonKind
from tests.conftest import FakeClock
from tests.factories import (
    login_as,
    make_agency,
    make_area,
    make_case,
    make_disclosure,
    make_person,
    make_user,
    post_form,
)


def text_of(response: Any) -> str:
    """The page's words."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def _world(parts: list[str]) -> tuple[Any, Any, Any]:
    area = make_area()
    police = make_agency(AgencyKind.POLICE, [area])
    officer = make_user(Role.REFERRER, agency=police)
    housing = make_agency(AgencyKind.HOUSING, [area])
    victim = make_person(actor=officer.user, given_name="Rosalind", family_name="Penhaligon")
    perpetrator = make_person(PersonKind.PERPETRATOR, actor=officer.user, given_name="Dorian", family_name="Trevelyan")
    case = make_case(area=area, agency=police, victim=victim, perpetrator=perpetrator, actor=officer.user)
    make_disclosure(case, housing, officer.user, parts=parts)
    return case, make_user(Role.AGENCY_REP, agency=housing), victim


def test_summary_only_disclosure_shows_the_case_but_not_who_is_in_it(app: Flask, clock: FakeClock) -> None:
    case, housing_user, victim = _world(["summary"])
    browser = app.test_client()
    login_as(browser, housing_user, clock)

    page = text_of(browser.get(f"/cases/{case.public_id}"))
    assert f"Case {case.reference}" in page
    assert "Rosalind" not in page
    assert "Penhaligon" not in page
    assert "Dorian" not in page
    assert "Victim: Name not shared with your agency" in page
    assert "not included in what was shared with your agency" in page

    listing = text_of(browser.get("/cases/"))
    assert case.reference in listing
    assert "Not shared with your agency" in listing
    assert "Penhaligon" not in listing

    person_page = text_of(browser.get(f"/people/{victim.public_id}"))
    assert "Name not shared with your agency" in person_page
    assert "Rosalind" not in person_page


def test_victim_part_shows_the_victim_but_not_the_household(app: Flask, clock: FakeClock) -> None:
    case, housing_user, _victim = _world(["summary", "victim"])
    browser = app.test_client()
    login_as(browser, housing_user, clock)

    page = text_of(browser.get(f"/cases/{case.public_id}"))
    assert "Victim: Rosalind Penhaligon" in page
    assert "Dorian" not in page
    assert "Perpetrator: Name not shared with your agency" in page
    # sharing "victim" does not widen sensitivity: housing still may not see her safe contact details
    assert "safe contact details (IDVA and police only)" in page


def test_search_does_not_name_a_person_whose_details_were_not_shared(app: Flask, clock: FakeClock) -> None:
    _case, housing_user, _victim = _world(["summary"])
    browser = app.test_client()
    login_as(browser, housing_user, clock)

    response = post_form(browser, "/people/search", {"given_name": "Rosalind", "family_name": "Penhaligon"})

    page = text_of(response)
    assert "1 possible match" in page
    assert "Rosalind Penhaligon" not in page
    assert "you do not have access" in page
