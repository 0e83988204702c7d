"""Issue 6 in a real browser: an agency representative reports progress on an action from an earlier meeting (a
completion without its note is refused), and the coordinator sees the outstanding actions, with the new status, at
the top of the next meeting's agenda."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from marac import db
from marac.db import LONDON
from tests.browser.conftest import PASSWORD, SERVER_CLOCK, Account, LiveServer, sign_in

pytestmark = pytest.mark.browser

AREA = "Eastbrook Actions MARAC"  # an area of this test's own: no other browser test sees its meetings
OPEN_TEXT = "Fit a door camera and extra locks through the sanctuary scheme"
OTHER_TEXT = "Ask the landlord to move the family to a ground-floor flat"
DONE_TEXT = "Change the locks at the victim's address the same day"


@dataclass(frozen=True)
class Scene:
    """The accounts and the records the test drives."""

    coordinator: Account
    rep: Account
    case_reference: str
    action_id: str
    meeting_reference: str
    meeting_id: str


@pytest.fixture
def scene(live_server: LiveServer) -> Iterator[Scene]:
    """A coordinator and a housing representative of their own area; a case heard two weeks ago with two
    outstanding housing actions and one completed; the case on the next meeting's published agenda."""
    from marac.access import Role
    from marac.actions.models import Action, ActionStatus
    from marac.auth.accounts import create_user
    from marac.meetings.models import AgendaItem, ItemStatus, MeetingStatus
    from marac.orgs.models import AgencyKind
    from tests.factories import make_accepted_case, make_agency, make_area, make_meeting

    with live_server.app.app_context():
        area = make_area(AREA)
        council = make_agency(AgencyKind.LOCAL_AUTHORITY, areas=[area], name="Eastbrook Council MARAC Team")
        housing = make_agency(AgencyKind.HOUSING, areas=[area], name="Eastbrook Homes")
        accounts = {}
        for key, role, agency in (("coordinator", Role.COORDINATOR, council), ("rep", Role.AGENCY_REP, housing)):
            email = f"actions-{key}@example.org"
            user, _ = create_user(
                None,
                email=email,
                display_name=f"Alex Actions-{key.title()}",
                agency=agency,
                roles=[role.value],
                areas=[area],
                now=db.utcnow(),
                password=PASSWORD,
            )
            secret = pyotp.random_base32()
            user.must_change_password, user.totp_secret, user.mfa_enrolled_at = False, secret, db.utcnow()
            accounts[key] = Account(email=email, password=PASSWORD, totp_secret=secret, role=role.value, agency="")
        db.session.commit()
        case = make_accepted_case(area, housing)
        now = db.utcnow()
        earlier = make_meeting(area, _at_ten(now - timedelta(days=14)))
        heard = AgendaItem(meeting_id=earlier.id, case_id=case.id, position=1, status=ItemStatus.HEARD.value)
        db.session.add(heard)
        db.session.flush()
        made = {}
        for text, status, days in (
            (OPEN_TEXT, ActionStatus.OPEN, 7),
            (OTHER_TEXT, ActionStatus.OPEN, 21),
            (DONE_TEXT, ActionStatus.COMPLETED, 1),
        ):
            action = Action(
                case_id=case.id,
                meeting_id=earlier.id,
                agenda_item_id=heard.id,
                agency_id=housing.id,
                due_on=now.astimezone(LONDON).date() + timedelta(days=days),
                status=status.value,
            )
            action.description = text
            db.session.add(action)
            made[text] = action
        upcoming = make_meeting(area, _at_ten(now + timedelta(days=7)))
        upcoming.status, upcoming.published_at = MeetingStatus.PUBLISHED.value, now
        db.session.add(AgendaItem(meeting_id=upcoming.id, case_id=case.id, position=1, added_at=now))
        db.session.commit()
        yield Scene(
            coordinator=accounts["coordinator"],
            rep=accounts["rep"],
            case_reference=case.reference,
            action_id=made[OPEN_TEXT].public_id,
            meeting_reference=upcoming.reference,
            meeting_id=upcoming.public_id,
        )


def _at_ten(moment: datetime) -> datetime:
    """10:00 London time on the moment's day."""
    return moment.astimezone(LONDON).replace(hour=10, minute=0, second=0, microsecond=0)


def _as(browser: Browser, live_server: LiveServer, account: Account) -> Page:
    context = browser.new_context(base_url=live_server.url, locale="en-GB", timezone_id="Europe/London")
    context.set_default_timeout(30_000)
    page = context.new_page()
    sign_in(page, account)
    return page


def test_rep_updates_an_action_and_the_coordinator_sees_it_on_the_next_agenda(
    browser: Browser, live_server: LiveServer, scene: Scene, assert_accessible: Callable[[Page], None]
) -> None:
    rep = _as(browser, live_server, scene.rep)
    _report_progress(rep, live_server, scene, assert_accessible)
    rep.context.close()

    coordinator = _as(browser, live_server, scene.coordinator)
    _see_outstanding_actions(coordinator, scene, assert_accessible)
    coordinator.context.close()


def _saved(live_server: LiveServer, action_id: str) -> tuple[str, int]:
    """The action's status and how many changes its history holds, as the database has them."""
    from marac.actions.models import Action, ActionEvent

    with live_server.app.app_context():
        action = db.session.scalars(select(Action).where(Action.public_id == action_id)).one()
        events = db.session.scalars(select(ActionEvent).where(ActionEvent.action_id == action.id)).all()
        return action.status, len(events)


def _report_progress(
    page: Page, live_server: LiveServer, scene: Scene, assert_accessible: Callable[[Page], None]
) -> None:
    page.get_by_role("link", name="Your actions", exact=True).click()
    expect(page.locator("h1")).to_have_text("Our actions")
    expect(page.locator("#actions")).to_contain_text(OPEN_TEXT)
    assert_accessible(page)
    page.get_by_role("link", name=OPEN_TEXT).click()
    expect(page).to_have_url(re.compile(f"/actions/{scene.action_id}$"))
    expect(page.locator("#status-now")).to_have_text("Open")

    # Completed, but no note: refused, with the message on the page, and nothing saved.
    page.get_by_label("Completed", exact=True).check()
    page.get_by_role("button", name="Save the status").click()
    expect(page.locator(".govuk-error-summary")).to_contain_text("Enter a completion note: what was done")
    expect(page.locator("#status-now")).to_have_text("Open")
    expect(page.get_by_text("No changes since the action was agreed.")).to_be_visible()
    assert _saved(live_server, scene.action_id) == ("open", 0)
    assert_accessible(page)

    page.get_by_label("In progress", exact=True).check()
    page.get_by_role("button", name="Save the status").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Action status saved: in progress.")
    expect(page.locator("#status-now")).to_have_text("In progress")
    expect(page.locator("#history")).to_contain_text("Open to In progress")
    assert _saved(live_server, scene.action_id) == ("in_progress", 1)
    assert_accessible(page)


def _see_outstanding_actions(page: Page, scene: Scene, assert_accessible: Callable[[Page], None]) -> None:
    page.get_by_role("link", name="Meetings", exact=True).click()
    page.get_by_role("link", name=scene.meeting_reference).click()
    page.get_by_role("link", name="Build the agenda").click()
    expect(page.locator("h1")).to_have_text(f"Agenda for meeting {scene.meeting_reference}")

    heading = page.locator("#outstanding-actions")
    expect(heading).to_have_text("Outstanding actions from earlier meetings")
    # At the top: the section comes before the cases on the agenda.
    order = page.evaluate(
        "() => document.querySelector('#outstanding-actions')"
        ".compareDocumentPosition(document.querySelector('#agenda'))"
    )
    assert order & 4, "the outstanding actions are not above the agenda's cases"
    expect(page.locator(".earlier-case")).to_have_text([f"1. Case {scene.case_reference}"])
    rows = page.locator(".earlier-action")
    expect(rows).to_have_count(2)  # the completed one is not outstanding
    updated = page.locator(f"#earlier-action-{scene.action_id}")
    today = SERVER_CLOCK().astimezone(LONDON).date()
    expect(updated).to_contain_text(OPEN_TEXT)
    expect(updated).to_contain_text("Eastbrook Homes")
    expect(updated).to_contain_text("In progress")
    expect(updated).to_contain_text(f"Updated {_long(today)}")
    other = rows.filter(has_text=OTHER_TEXT)
    expect(other).to_contain_text("Open")
    expect(other).to_contain_text("No update reported")
    expect(page.get_by_text(DONE_TEXT)).to_have_count(0)
    assert_accessible(page)

    updated.get_by_role("link", name=OPEN_TEXT).click()
    expect(page).to_have_url(re.compile(f"/actions/{scene.action_id}$"))
    expect(page.locator("#status-now")).to_have_text("In progress")


def _long(day: date) -> str:
    """A date as the pages write it: 24 November 2026."""
    return f"{day.day} {day:%B %Y}"
