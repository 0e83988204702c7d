"""Issue 7 in a real browser: a police officer records a domestic-abuse incident with two children at two schools;
each school's key adult signs in, sees only their own pupil (the other school's notification is a 404) and
acknowledges it; the coordinator sees both notifications, acknowledged, on the children's MARAC case."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from marac import db
from marac.db import LONDON
from tests.browser.conftest import PASSWORD, SERVER_CLOCK, Account, LiveServer, sign_in

pytestmark = pytest.mark.browser

AREA = "Westmere Encompass MARAC"  # an area of this test's own: no other browser test sees its cases
REFERENCE = "WM/70417/26"
PLACE = "A house on Larchfield Road, Westmere"
CIRCUMSTANCES = "Neighbour called police to shouting; the father was arrested; the mother had a cut to her hand."
SAID = "Said she hid under the bed when Dad started shouting."
OAKFIELD_NOTE = "Met Maisie at the gate; she will see the learning mentor at break."
RIVERSIDE_NOTE = "Checked in with Oliver in registration; his form tutor knows."
SCHOOL_DAY_STARTS = time(8, 30)
Check = Callable[[Page], None]


@dataclass(frozen=True)
class Child:
    """A child on the case, as police will type them."""

    given: str
    family: str
    born: date

    @property
    def name(self) -> str:
        """Their full name, as the pages show it."""
        return f"{self.given} {self.family}"


@dataclass(frozen=True)
class School:
    """An education setting and its briefed key adult."""

    urn: str
    name: str
    key_adult: Account
    key_adult_name: str


@dataclass(frozen=True)
class Scene:
    """The accounts, the case and the school morning the test drives."""

    officer: Account
    coordinator: Account
    oakfield: School
    riverside: School
    case_id: str
    children: tuple[Child, Child]
    incident_day: date
    due_day: date


def _local(day: date, at: time) -> datetime:
    """`at` on `day`, London time."""
    return datetime.combine(day, at, tzinfo=LONDON)


def _next_school_morning() -> date:
    """The first day after today that is a school day in England (weekends and bank holidays skipped)."""
    from marac.encompass.calendar import Nation, next_school_day_start

    def due_after_evening_before(day: date) -> datetime:
        return next_school_day_start(_local(day - timedelta(days=1), time(18, 30)), Nation.ENGLAND_WALES)

    day = SERVER_CLOCK().astimezone(LONDON).date() + timedelta(days=1)
    while due_after_evening_before(day) != _local(day, SCHOOL_DAY_STARTS):
        day += timedelta(days=1)
    return day


def _born(on: date, years: int, days_more: int) -> date:
    """A date of birth that makes a child `years` old on `on`."""
    return date(on.year - years, on.month, min(on.day, 28)) - timedelta(days=days_more)


def _account(key: str, name: str, role: str, agency: Any, areas: list[Any]) -> tuple[Account, Any]:
    """An enrolled account of this test's own, and its user."""
    from marac.auth.accounts import create_user

    email = f"encompass-{key}@example.org"
    user, _ = create_user(
        None,
        email=email,
        display_name=name,
        agency=agency,
        roles=[role],
        areas=areas,
        now=db.utcnow(),
        password=PASSWORD,
    )
    secret = pyotp.random_base32()
    user.must_change_password, user.totp_secret, user.mfa_enrolled_at = False, secret, db.utcnow()
    return Account(email=email, password=PASSWORD, totp_secret=secret, role=role, agency=""), user


@pytest.fixture
def scene(live_server: LiveServer) -> Iterator[Scene]:
    """07:00 on a school morning (the clock moved there; put back afterwards); an area with a police force, a local
    authority and two schools, each with a briefed key adult; an officer, a coordinator, and an open case with two
    children (6 and 10) at home."""
    from marac.access import Role
    from marac.cases.models import PartyRole
    from marac.cases.services import add_party
    from marac.encompass.models import EducationSetting, KeyAdult
    from marac.orgs.models import AgencyKind
    from marac.people.models import Relationship
    from tests.encompass.factories import make_child, make_local_authority
    from tests.factories import make_agency, make_area, make_case

    due_day = _next_school_morning()
    SERVER_CLOCK.offset = _local(due_day, time(7, 0)) - SERVER_CLOCK() + SERVER_CLOCK.offset
    incident_day = due_day - timedelta(days=1)
    children = (
        Child("Maisie", "Thornbury-Quill", _born(incident_day, 6, 100)),
        Child("Oliver", "Thornbury-Quill", _born(incident_day, 10, 200)),
    )
    try:
        with live_server.app.app_context():
            area = make_area(AREA)
            police = make_agency(AgencyKind.POLICE, areas=[area], name="Westmere Constabulary")
            council = make_local_authority(area, name="Westmere Council")
            schools = []
            for key, urn, name, adult in (
                ("oakfield", "100101", "Oakfield Primary School (Westmere)", "Priya Oakfield-Lead"),
                ("riverside", "100102", "Riverside Academy (Westmere)", "Tom Riverside-Lead"),
            ):
                agency = make_agency(AgencyKind.EDUCATION, areas=[area], name=name)
                setting = EducationSetting(
                    urn=urn, name=name, local_authority_id=council.id, agency_id=agency.id, day_start=SCHOOL_DAY_STARTS
                )
                db.session.add(setting)
                account, user = _account(key, adult, Role.KEY_ADULT.value, agency, [])
                db.session.flush()
                briefed_on = due_day - timedelta(days=60)
                db.session.add(KeyAdult(setting_id=setting.id, user_id=user.id, rank=1, briefed_on=briefed_on))
                schools.append(School(urn=urn, name=name, key_adult=account, key_adult_name=adult))
            officer, _ = _account("officer", "Dan Westmere-Officer", Role.REFERRER.value, police, [area])
            coordinator, _ = _account(
                "coordinator", "Ada Westmere-Coordinator", Role.COORDINATOR.value, council, [area]
            )
            db.session.commit()
            case = make_case(area=area, agency=police)
            for child in children:
                person = make_child(given_name=child.given, family_name=child.family, date_of_birth=child.born)
                add_party(None, case, person, PartyRole.CHILD, Relationship.CHILD, same_household=True)
            db.session.commit()
            case_id = case.public_id
        yield Scene(
            officer=officer,
            coordinator=coordinator,
            oakfield=schools[0],
            riverside=schools[1],
            case_id=case_id,
            children=children,
            incident_day=incident_day,
            due_day=due_day,
        )
    finally:
        SERVER_CLOCK.offset = timedelta(0)


def _as(browser: Browser, live_server: LiveServer, account: Account) -> Page:
    context = browser.new_context(base_url=live_server.url, locale="en-GB", timezone_id="Europe/London")
    context.set_default_timeout(30_000)
    expect.set_options(timeout=30_000)
    page = context.new_page()
    sign_in(page, account)
    # Signed in only once the code's answer (and its session cookie) has arrived: a `goto` before then races it.
    expect(page.get_by_role("button", name="Sign out")).to_be_visible()
    return page


def _long(day: date) -> str:
    """A date as the notification page writes it: 27 November 2026."""
    return f"{day.day} {day:%B %Y}"


def _short(day: date) -> str:
    """A date as the tables write it: 27 Nov 2026."""
    return f"{day.day} {day:%b %Y}"


def test_officer_records_two_children_each_key_adult_acknowledges_and_the_coordinator_sees_both(
    browser: Browser, live_server: LiveServer, scene: Scene, assert_accessible: Check
) -> None:
    officer = _as(browser, live_server, scene.officer)
    _record_incident(officer, scene, assert_accessible)
    officer.context.close()
    notification_ids = _notification_ids(live_server)
    assert set(notification_ids) == {scene.oakfield.urn, scene.riverside.urn}

    mine, theirs = scene.children
    for school, other, child, other_child, note in (
        (scene.oakfield, scene.riverside, mine, theirs, OAKFIELD_NOTE),
        (scene.riverside, scene.oakfield, theirs, mine, RIVERSIDE_NOTE),
    ):
        key_adult = _as(browser, live_server, school.key_adult)
        _acknowledge(key_adult, scene, school, child, other_child, note, assert_accessible)
        assert _acknowledged(live_server, notification_ids[school.urn]) == (school.key_adult_name, note)
        _cannot_open(key_adult, notification_ids[other.urn], other_child, assert_accessible)
        key_adult.context.close()

    coordinator = _as(browser, live_server, scene.coordinator)
    _see_both_on_the_case(coordinator, scene, assert_accessible)
    coordinator.context.close()

    # The police had Oliver's school wrong: the officer corrects where he was and moves his notification.
    officer = _as(browser, live_server, scene.officer)
    _correct_and_move(officer, scene, assert_accessible)
    officer.context.close()
    riverside = _as(browser, live_server, scene.riverside.key_adult)
    _cannot_open(riverside, notification_ids[scene.riverside.urn], theirs, assert_accessible)
    riverside.context.close()
    oakfield = _as(browser, live_server, scene.oakfield.key_adult)
    oakfield.get_by_role("navigation", name="Main").get_by_role("link", name="Encompass notifications").click()
    rows = oakfield.locator("#notifications tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.filter(has_text=theirs.name)).to_contain_text("New")  # to read and acknowledge afresh
    oakfield.context.close()


def _fill_child(page: Page, index: int, child: Child, urn: str, *, present: bool, said: str) -> None:
    """Fill in child `index` (0-based) of the incident form."""
    block = page.locator(f"#children-{index}")
    block.get_by_label("Given name").fill(child.given)
    block.get_by_label("Family name").fill(child.family)
    block.locator(f"#children-{index}-date_of_birth-day").fill(str(child.born.day))
    block.locator(f"#children-{index}-date_of_birth-month").fill(str(child.born.month))
    block.locator(f"#children-{index}-date_of_birth-year").fill(str(child.born.year))
    block.get_by_label("At a school or college (enter its URN)").check()
    block.get_by_label("Setting's URN").fill(urn)
    block.get_by_role("group", name="Was the child present?").get_by_label("Yes" if present else "No").check()
    block.get_by_label("Where was the child?").fill("In the upstairs bedroom" if present else "At his grandmother's")
    spoken_to = block.get_by_role("group", name="Was the child spoken to?")
    spoken_to.get_by_label("Yes" if said else "No").check()
    if said:
        block.get_by_label("What did the child say?").fill(said)


def _record_incident(page: Page, scene: Scene, assert_accessible: Check) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Encompass incidents").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your force's incidents")
    assert_accessible(page)
    page.get_by_role("link", name="Record an incident").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Record an incident")
    page.get_by_label("Police reference").fill(REFERENCE)
    page.locator("#occurred_on-day").fill(str(scene.incident_day.day))
    page.locator("#occurred_on-month").fill(str(scene.incident_day.month))
    page.locator("#occurred_on-year").fill(str(scene.incident_day.year))
    page.get_by_label("Incident time").fill("18:30")
    page.get_by_label("Place").fill(PLACE)
    page.get_by_label("Short circumstances").fill(CIRCUMSTANCES)
    first, second = scene.children
    _fill_child(page, 0, first, scene.oakfield.urn, present=True, said=SAID)
    assert_accessible(page)

    # Adding a child posts the form back (no JavaScript needed) and keeps what was typed.
    page.get_by_role("button", name="Add another child").click()
    expect(page.get_by_role("heading", name="Child 2")).to_be_visible()
    expect(page.get_by_label("Police reference")).to_have_value(REFERENCE)
    expect(page.locator("#children-0").get_by_label("Given name")).to_have_value(first.given)
    expect(page.locator("#children-0").get_by_label("What did the child say?")).to_have_value(SAID)
    _fill_child(page, 1, second, scene.riverside.urn, present=False, said="")
    assert_accessible(page)
    page.get_by_role("button", name="Record the incident").click()

    expect(page.locator(".govuk-notification-banner")).to_contain_text("Incident recorded: 2 children added.")
    expect(page.get_by_role("heading", level=1)).to_have_text(f"Incident {REFERENCE}")
    rows = page.locator("#children tbody tr")
    expect(rows).to_have_count(2)
    due = f"{_short(scene.due_day)}, 08:30"  # the start of the next school day: the morning after the incident
    for child, school in ((first, scene.oakfield), (second, scene.riverside)):
        row = rows.filter(has_text=child.name)
        expect(row).to_contain_text(school.name)
        expect(row.locator("td").nth(2)).to_have_text(due)
        expect(row.locator("td").nth(3)).to_contain_text(re.compile(r"^Sent\s*sent \d"))
    assert_accessible(page)


def _notification_ids(live_server: LiveServer) -> dict[str, str]:
    """The incident's notifications' public ids by their setting's URN, as the database holds them."""
    from marac.encompass.models import EducationSetting, EncompassChild, EncompassNotification, PoliceIncident

    with live_server.app.app_context():
        rows = db.session.execute(
            select(EducationSetting.urn, EncompassNotification.public_id)
            .join(EncompassChild, EncompassChild.id == EncompassNotification.child_id)
            .join(PoliceIncident, PoliceIncident.id == EncompassChild.incident_id)
            .join(EducationSetting, EducationSetting.id == EncompassNotification.setting_id)
            .where(PoliceIncident.police_reference == REFERENCE, EncompassNotification.sent_at.is_not(None))
        ).all()
        return dict(rows)


def _acknowledged(live_server: LiveServer, public_id: str) -> tuple[str | None, str | None]:
    """Who acknowledged the notification and their note of the support offered, as the database holds them."""
    from marac.encompass.models import EncompassNotification

    with live_server.app.app_context():
        notification = db.session.scalars(
            select(EncompassNotification).where(EncompassNotification.public_id == public_id)
        ).one()
        by = notification.acknowledged_by.display_name if notification.acknowledged_by else None
        return by, notification.support_note


def _acknowledge(
    page: Page, scene: Scene, school: School, child: Child, other: Child, note: str, assert_accessible: Check
) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Encompass notifications").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Operation Encompass notifications")
    table = page.locator("#notifications")
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table).to_contain_text(child.name)
    expect(table).to_contain_text(school.name)
    expect(table).to_contain_text("New")
    expect(page.get_by_text(other.given)).to_have_count(0)
    assert_accessible(page)

    table.get_by_role("link", name=child.name).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Operation Encompass notification")
    expect(page.locator("#child-name")).to_have_text(child.name)
    expect(page.locator("#child-dob")).to_have_text(_long(child.born))
    expect(page.locator("#police-reference")).to_have_text(REFERENCE)
    expect(page.locator("#occurred")).to_have_text(f"{_long(scene.incident_day)}, 18:30")
    expect(page.locator("#circumstances")).to_have_text(CIRCUMSTANCES)
    expect(page.locator("#due")).to_have_text(f"{_long(scene.due_day)}, 08:30")
    expect(page.locator("#sent")).to_contain_text("(on time)")
    if child is scene.children[0]:
        expect(page.locator("#present")).to_have_text("Yes")
        expect(page.locator("#child-said")).to_have_text(SAID)
    else:
        expect(page.locator("#present")).to_have_text("No")
        expect(page.locator("#spoken-to")).to_have_text("No")
    expect(page.get_by_text(other.given)).to_have_count(0)
    assert_accessible(page)

    page.get_by_label("Support offered (optional)").fill(note)
    page.get_by_role("button", name="Acknowledge").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Notification acknowledged.")
    expect(page.locator("#acknowledged")).to_contain_text(f"by {school.key_adult_name}")
    expect(page.locator("#support-note")).to_have_text(note)
    expect(page.get_by_role("button", name="Acknowledge")).to_have_count(0)
    assert_accessible(page)

    page.get_by_role("link", name="Back to notifications").click()
    expect(page.locator("#notifications tbody tr").first).to_contain_text("Acknowledged")


def _cannot_open(page: Page, public_id: str, other: Child, assert_accessible: Check) -> None:
    response = page.goto(f"/encompass/notifications/{public_id}")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", level=1)).to_have_text("Page not found")
    expect(page.get_by_text(other.given)).to_have_count(0)
    assert_accessible(page)


def _see_both_on_the_case(page: Page, scene: Scene, assert_accessible: Check) -> None:
    page.goto(f"/cases/{scene.case_id}")
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Case MC-"))
    assert_accessible(page)
    page.get_by_role("link", name="Operation Encompass notifications").click()
    expect(page).to_have_url(re.compile(f"/cases/{scene.case_id}/encompass$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Operation Encompass notifications")
    rows = page.locator("#case-notifications tbody tr")
    expect(rows).to_have_count(2)
    for child, school, note in (
        (scene.children[0], scene.oakfield, OAKFIELD_NOTE),
        (scene.children[1], scene.riverside, RIVERSIDE_NOTE),
    ):
        row = rows.filter(has_text=child.name)
        expect(row).to_have_count(1)
        expect(row).to_contain_text(school.name)
        expect(row).to_contain_text(REFERENCE)
        expect(row).to_contain_text(f"{_short(scene.due_day)}, 08:30")
        expect(row).to_contain_text(f"by {school.key_adult_name}, {school.name}")
        expect(row).to_contain_text(note)
    expect(page.get_by_text("Not acknowledged")).to_have_count(0)
    assert_accessible(page)


MOVE_REASON = "Oliver moved to Oakfield in September; the police system still had his old school."
WHERE_NOW = "At his grandmother's on Elm Road"


def _correct_and_move(page: Page, scene: Scene, assert_accessible: Check) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Encompass incidents").click()
    page.get_by_role("link", name=REFERENCE).click()
    page.get_by_role("link", name="Correct this incident").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Correct")
    assert_accessible(page)
    oliver = page.locator("#children-1")
    oliver.get_by_label("Where was the child?").fill(WHERE_NOW)
    page.get_by_role("button", name="Save the correction").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter the reason for the correction")
    assert_accessible(page)
    expect(page.locator("#children-1").get_by_label("Where was the child?")).to_have_value(WHERE_NOW)  # kept
    page.get_by_label("Reason for the correction").fill("Where Oliver was: the officer's notes were misread.")
    page.get_by_role("button", name="Save the correction").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Incident corrected")

    page.get_by_role("link", name="Correct this incident").click()
    oliver_name = scene.children[1].name  # each child's card names its fields for a screen reader
    page.get_by_label(f"The right setting's URN for {oliver_name}").fill(scene.oakfield.urn)
    page.get_by_label(f"Why is it moving? ({oliver_name})").fill(MOVE_REASON)
    page.get_by_role("button", name=f"Move the notification to this setting ({oliver_name})").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text(f"Notification moved to {scene.oakfield.name}")
    history = page.locator("#correction-history tbody tr")
    expect(history).to_have_count(2)
    expect(history.filter(has_text="Moved from")).to_contain_text(
        f"Moved from {scene.riverside.name} to {scene.oakfield.name}"
    )
    expect(history.filter(has_text="Moved from")).to_contain_text(MOVE_REASON)
    expect(history.filter(has_text="Moved from")).to_contain_text("Dan Westmere-Officer")
    assert_accessible(page)
