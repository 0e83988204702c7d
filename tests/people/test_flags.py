"""Repeat-victim and serial-perpetrator flags: found across agencies and changed contact details once a user links
the records, counted inside the configured window, and naming other cases only to those entitled to them."""

from __future__ import annotations

import html
import re
from datetime import date
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from marac import db
from marac.access import Role
from marac.cases.models import Case
from marac.orgs.models import Agency, AgencyKind, Area
from marac.people.flags import months_before, repeat_flag, serial_flag
from marac.people.models import Person, PersonKind
from marac.people.services import identity_person_ids
from tests.conftest import FakeClock
from tests.factories import (
    Account,
    login_as,
    make_agency,
    make_area,
    make_case,
    make_incident,
    make_person,
    make_user,
    post_form,
)

TODAY = date(2026, 11, 25)  # the test clock's date
FIVE_MONTHS_AGO = date(2026, 6, 25)
BIRTHDAY = date(1990, 4, 2)
REPEAT = "Repeat victim"
SERIAL = "Serial perpetrator"
REFERENCE = re.compile(r"MC-\d\d-[A-Z0-9]{6}")


def text_of(response: Any) -> str:
    """The page as a reader sees the words, tags and spacing collapsed."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))).split())


def same_individual(*people: Person) -> None:
    """Record that these persons are one individual, as a user's link does."""
    for person in people[1:]:
        person.identity_key = people[0].identity_key
    db.session.commit()


def signed_in(app: Flask, account: Account, clock: FakeClock) -> FlaskClient:
    """A new browser signed in as `account`."""
    browser = app.test_client()
    login_as(browser, account, clock)
    return browser


class Area2:
    """One MARAC area with a police force and an IDVA service in it."""

    def __init__(self) -> None:
        self.area: Area = make_area()
        self.police: Agency = make_agency(AgencyKind.POLICE, [self.area])
        self.idva_service: Agency = make_agency(AgencyKind.IDVA_SERVICE, [self.area])
        self.officer: Account = make_user(Role.REFERRER, agency=self.police)
        self.idva: Account = make_user(Role.IDVA, agency=self.idva_service)


@pytest.fixture
def place(app: Flask) -> Area2:
    """The area the flags are tested in."""
    return Area2()


# --- a repeat victim with a new phone and address ------------------------------------------------------------------

SPELLINGS = {
    "same spelling": (("Catherine", "Smith"), "Same name and date of birth", "High"),
    "sound-alike spelling": (("Kathryn", "Smyth"), "Same date of birth; name sounds alike", "Medium"),
}


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_repeat_victim_is_found_after_changing_phone_and_address(
    app: Flask, place: Area2, clock: FakeClock, spelling: str
) -> None:
    earlier_victim = make_person(
        PersonKind.VICTIM,
        place.officer.user,
        given_name="Catherine",
        family_name="Smith",
        date_of_birth=BIRTHDAY,
        phones=["07700 900101"],
        postcode="NV11AA",
        email=None,
    )
    earlier = make_case(place.area, place.police, earlier_victim, place.officer.user, referred_on=FIVE_MONTHS_AGO)
    (given_name, family_name), reasons, band = SPELLINGS[spelling]
    browser = signed_in(app, place.idva, clock)

    opened = post_form(
        browser,
        "/cases/new",
        {
            "area": place.area.public_id,
            "referred_on": ["25", "11", "2026"],
            "idva": "",
            "given_name": given_name,
            "family_name": family_name,
            "date_of_birth": ["2", "4", "1990"],
            "phones": "07700 900202",
            "postcode": "EB2 2BB",
            "gender": "Female",
            "ethnicity": "",
            "disability": "",
            "sexual_orientation": "",
        },
    )
    assert opened.status_code == 302
    case = db.session.scalars(select(Case).where(Case.referred_by_id == place.idva.user.id)).one()
    new_victim = case.victim
    matches_path = opened.headers["Location"]
    assert matches_path == f"/people/{new_victim.public_id}/matches?case={case.public_id}"

    matches = browser.get(matches_path)
    assert matches.status_code == 200
    offered = text_of(matches)
    assert "1 possible match" in offered
    assert f"{band} score" in offered
    assert reasons in offered
    assert "Known to Police (you do not have access) in 1 case" in offered
    assert f'href="/people/{earlier_victim.public_id}"' not in matches.get_data(as_text=True)
    link_path = f"/people/{new_victim.public_id}/matches/{earlier_victim.public_id}/link?case={case.public_id}"
    assert f'action="{html.escape(link_path)}"' in matches.get_data(as_text=True)

    before_linking = text_of(browser.get(f"/cases/{case.public_id}"))
    assert REPEAT not in before_linking

    linked = post_form(browser, link_path, {}, form_path=matches_path)

    assert linked.status_code == 302
    assert linked.headers["Location"] == matches_path
    assert "Linked: these records are now treated as the same person" in text_of(browser.get(matches_path))
    assert sorted(identity_person_ids(new_victim)) == sorted([earlier_victim.id, new_victim.id])
    page = text_of(browser.get(f"/cases/{case.public_id}"))
    assert REPEAT in page
    assert "1 earlier referral or incident in the 12 months before this referral, recorded by 1 agency" in page
    assert "1 case you do not have access to" in page
    assert earlier.reference not in page
    assert earlier.public_id not in browser.get(f"/cases/{case.public_id}").get_data(as_text=True)


def test_without_a_link_the_same_details_raise_no_flag(app: Flask, place: Area2, clock: FakeClock) -> None:
    details = {"given_name": "Catherine", "family_name": "Smith", "date_of_birth": BIRTHDAY}
    make_case(place.area, place.police, make_person(**details), place.officer.user, referred_on=FIVE_MONTHS_AGO)
    case = make_case(place.area, place.idva_service, make_person(**details), place.idva.user)

    page = text_of(signed_in(app, place.idva, clock).get(f"/cases/{case.public_id}"))

    assert REPEAT not in page
    assert "Related cases" not in page
    assert not repeat_flag(case.victim, case.referred_on, exclude_case=case).is_repeat


def test_rejected_match_raises_no_flag(app: Flask, place: Area2, clock: FakeClock) -> None:
    details = {"given_name": "Catherine", "family_name": "Smith", "date_of_birth": BIRTHDAY}
    earlier_victim = make_person(**details)
    make_case(place.area, place.police, earlier_victim, place.officer.user, referred_on=FIVE_MONTHS_AGO)
    case = make_case(place.area, place.idva_service, make_person(PersonKind.VICTIM, place.idva.user, **details))
    browser = signed_in(app, place.idva, clock)
    matches_path = f"/people/{case.victim.public_id}/matches?case={case.public_id}"
    reject_path = f"/people/{case.victim.public_id}/matches/{earlier_victim.public_id}/reject?case={case.public_id}"

    response = post_form(browser, reject_path, {}, form_path=matches_path)

    assert response.status_code == 302
    after = text_of(browser.get(matches_path))
    assert "Recorded as a different person" in after
    assert "No other records share this person's details" in after
    assert REPEAT not in text_of(browser.get(f"/cases/{case.public_id}"))


# --- the window ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "before"),
    [
        (date(2026, 11, 25), 12, date(2025, 11, 25)),
        (date(2026, 1, 15), 1, date(2025, 12, 15)),
        (date(2026, 8, 31), 6, date(2026, 2, 28)),
        (date(2024, 2, 29), 12, date(2023, 2, 28)),
        (date(2028, 3, 31), 1, date(2028, 2, 29)),
    ],
)
def test_months_before_keeps_the_day_or_takes_the_months_last(day: date, months: int, before: date) -> None:
    assert months_before(day, months) == before


def victim_referred_on(place: Area2, earlier_on: date) -> Case:
    """Today's case for a victim whose linked earlier record was referred on `earlier_on`."""
    earlier_victim, victim = make_person(), make_person()
    same_individual(victim, earlier_victim)
    make_case(place.area, place.police, earlier_victim, referred_on=earlier_on)
    return make_case(place.area, place.police, victim, place.officer.user, referred_on=TODAY)


@pytest.mark.parametrize(
    ("earlier_on", "flagged"),
    [
        (date(2025, 11, 25), True),  # 12 months exactly
        (date(2025, 11, 24), False),  # 12 months and a day
        (date(2026, 11, 25), True),  # the same day
    ],
)
def test_repeat_window_is_twelve_months_to_the_day(
    app: Flask, place: Area2, clock: FakeClock, earlier_on: date, flagged: bool
) -> None:
    case = victim_referred_on(place, earlier_on)

    flag = repeat_flag(case.victim, case.referred_on, exclude_case=case)
    page = text_of(signed_in(app, place.officer, clock).get(f"/cases/{case.public_id}"))

    assert (flag.window_months, flag.since) == (12, date(2025, 11, 25))
    assert flag.is_repeat is flagged
    assert (REPEAT in page) is flagged


@pytest.mark.parametrize(("earlier_on", "flagged"), [(date(2026, 5, 25), True), (date(2026, 5, 24), False)])
def test_repeat_window_follows_the_setting(
    app: Flask, place: Area2, clock: FakeClock, earlier_on: date, flagged: bool
) -> None:
    app.config["MARAC_REPEAT_WINDOW_MONTHS"] = 6
    case = victim_referred_on(place, earlier_on)

    page = text_of(signed_in(app, place.officer, clock).get(f"/cases/{case.public_id}"))

    assert (REPEAT in page) is flagged
    if flagged:
        assert "1 earlier referral or incident in the 6 months before this referral" in page


def test_a_later_referral_does_not_make_an_earlier_case_a_repeat(place: Area2) -> None:
    earlier_victim, later_victim = make_person(), make_person()
    same_individual(earlier_victim, later_victim)
    earlier = make_case(place.area, place.police, earlier_victim, referred_on=FIVE_MONTHS_AGO)
    make_case(place.area, place.police, later_victim, referred_on=TODAY)

    assert not repeat_flag(earlier_victim, earlier.referred_on, exclude_case=earlier).is_repeat


# --- incidents -----------------------------------------------------------------------------------------------------


def test_incidents_by_other_agencies_count_towards_the_flag(app: Flask, place: Area2, clock: FakeClock) -> None:
    housing = make_agency(AgencyKind.HOUSING, [place.area])
    recorded_by_housing, recorded_by_police, victim = make_person(), make_person(), make_person()
    same_individual(victim, recorded_by_housing, recorded_by_police)
    make_incident(recorded_by_housing, housing, date(2026, 9, 1))
    make_incident(recorded_by_police, place.police, date(2025, 10, 1))  # outside the window
    case = make_case(place.area, place.police, victim, place.officer.user, referred_on=TODAY)
    browser = signed_in(app, place.officer, clock)

    page = text_of(browser.get(f"/cases/{case.public_id}"))
    assert "1 earlier referral or incident in the 12 months before this referral, recorded by 1 agency" in page

    make_case(place.area, place.police, recorded_by_police, referred_on=date(2026, 3, 3))
    page = text_of(browser.get(f"/cases/{case.public_id}"))
    assert "2 earlier referrals or incidents in the 12 months before this referral, recorded by 2 agencies" in page


def test_incidents_recorded_on_the_case_itself_are_not_earlier(place: Area2) -> None:
    case = make_case(place.area, place.police, make_person(), referred_on=TODAY)
    from marac.cases.services import record_incident

    record_incident(None, victim=case.victim, agency=place.police, occurred_on=date(2026, 11, 20), case=case)
    db.session.commit()

    flag = repeat_flag(case.victim, case.referred_on, exclude_case=case)

    assert (flag.count, flag.incident_count, flag.case_ids) == (0, 0, [])


# --- serial perpetrators -------------------------------------------------------------------------------------------


def cases_with(place: Area2, perpetrator: Person, victims: list[Person]) -> list[Case]:
    """A police case for each victim, all with the same perpetrator record."""
    return [make_case(place.area, place.police, v, place.officer.user, perpetrator=perpetrator) for v in victims]


def test_perpetrator_of_three_different_victims_is_flagged(app: Flask, place: Area2, clock: FakeClock) -> None:
    perpetrator = make_person(PersonKind.PERPETRATOR, given_name="Gary", family_name="Doyle")
    cases = cases_with(place, perpetrator, [make_person(), make_person(), make_person()])
    browser = signed_in(app, place.officer, clock)

    page = text_of(browser.get(f"/cases/{cases[0].public_id}"))
    person_page = text_of(browser.get(f"/people/{perpetrator.public_id}"))

    assert SERIAL in page
    assert "Gary Doyle is the perpetrator for 3 different victims" in page
    assert {cases[1].reference, cases[2].reference} <= set(REFERENCE.findall(page))
    assert SERIAL in person_page
    assert "Perpetrator for 3 different victims" in person_page
    flag = serial_flag(perpetrator)
    assert (flag.victim_count, flag.is_serial, flag.case_ids) == (3, True, {c.id for c in cases})


def test_two_linked_records_of_one_victim_count_once(app: Flask, place: Area2, clock: FakeClock) -> None:
    perpetrator = make_person(PersonKind.PERPETRATOR)
    first_record, second_record = make_person(), make_person()
    same_individual(first_record, second_record)
    cases = cases_with(place, perpetrator, [first_record, second_record])

    page = text_of(signed_in(app, place.officer, clock).get(f"/cases/{cases[1].public_id}"))

    assert serial_flag(perpetrator).victim_count == 1
    assert SERIAL not in page


def test_perpetrator_with_one_victim_is_not_flagged(app: Flask, place: Area2, clock: FakeClock) -> None:
    perpetrator = make_person(PersonKind.PERPETRATOR)
    [case] = cases_with(place, perpetrator, [make_person()])
    browser = signed_in(app, place.officer, clock)

    assert SERIAL not in text_of(browser.get(f"/cases/{case.public_id}"))
    assert SERIAL not in text_of(browser.get(f"/people/{perpetrator.public_id}"))


def test_linked_perpetrator_records_and_incidents_add_up(place: Area2) -> None:
    as_recorded_by_police, as_recorded_by_housing = make_person(PersonKind.PERPETRATOR), make_person()
    same_individual(as_recorded_by_police, as_recorded_by_housing)
    cases_with(place, as_recorded_by_police, [make_person()])
    make_incident(make_person(), make_agency(AgencyKind.HOUSING), date(2026, 2, 2), perpetrator=as_recorded_by_housing)

    assert serial_flag(as_recorded_by_police).victim_count == 2
    assert serial_flag(as_recorded_by_housing).is_serial


def test_serial_threshold_follows_the_setting(app: Flask, place: Area2) -> None:
    perpetrator = make_person(PersonKind.PERPETRATOR)
    cases_with(place, perpetrator, [make_person(), make_person()])
    assert serial_flag(perpetrator).is_serial

    app.config["MARAC_SERIAL_VICTIMS"] = 3

    assert not serial_flag(perpetrator).is_serial


# --- who learns about the other cases ------------------------------------------------------------------------------


def test_other_cases_are_named_only_to_those_who_may_see_them(app: Flask, place: Area2, clock: FakeClock) -> None:
    perpetrator = make_person(PersonKind.PERPETRATOR)
    elsewhere = make_area()
    other_police = make_agency(AgencyKind.POLICE, [elsewhere])
    seen = make_case(place.area, place.police, make_person(), place.officer.user, perpetrator=perpetrator)
    hidden = make_case(elsewhere, other_police, make_person(), perpetrator=perpetrator)
    coordinator_elsewhere = make_user(
        Role.COORDINATOR, agency=make_agency(AgencyKind.LOCAL_AUTHORITY, [place.area, elsewhere])
    )

    officer_view = signed_in(app, place.officer, clock).get(f"/cases/{seen.public_id}")
    coordinator_view = signed_in(app, coordinator_elsewhere, clock).get(f"/cases/{seen.public_id}")

    officer_page = text_of(officer_view)
    assert SERIAL in officer_page
    assert "1 case you do not have access to: ask the MARAC coordinator for" in officer_page
    assert hidden.reference not in officer_page
    assert hidden.public_id not in officer_view.get_data(as_text=True)
    assert elsewhere.name not in officer_page
    coordinator_page = text_of(coordinator_view)
    assert "you do not have access to" not in coordinator_page
    assert f"/cases/{hidden.public_id}" in coordinator_view.get_data(as_text=True)
    assert hidden.reference in coordinator_page


def test_person_page_counts_cases_the_user_may_not_see(app: Flask, place: Area2, clock: FakeClock) -> None:
    perpetrator = make_person(PersonKind.PERPETRATOR, place.officer.user)
    elsewhere = make_area()
    seen = make_case(place.area, place.police, make_person(), place.officer.user, perpetrator=perpetrator)
    hidden = make_case(elsewhere, make_agency(AgencyKind.POLICE, [elsewhere]), make_person(), perpetrator=perpetrator)

    response = signed_in(app, place.officer, clock).get(f"/people/{perpetrator.public_id}")

    page = text_of(response)
    assert seen.reference in page
    assert hidden.reference not in page
    assert hidden.public_id not in response.get_data(as_text=True)
    assert "Also in 1 case you do not have access to." in page
