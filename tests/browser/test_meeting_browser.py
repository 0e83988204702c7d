"""A whole MARAC cycle in a real browser: the coordinator builds and publishes a 15-case agenda, an agency
representative completes the research, the coordinator records the meeting with actions, the chair signs the
minutes off, and the papers download as PDFs."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from marac import db
from marac.db import LONDON
from tests.browser.conftest import PASSWORD, SERVER_CLOCK, Account, LiveServer, sign_in

pytestmark = pytest.mark.browser

CASES = 15
AREA = "Northvale North MARAC"


@pytest.fixture
def people(live_server: LiveServer) -> Iterator[dict[str, Account]]:
    """A coordinator, a chair and a housing representative of their own (so moving the clock touches no other
    test's authenticator), and enough accepted referrals in the area to fill an agenda."""
    from marac.auth.accounts import create_user
    from marac.cases.models import Case, CaseStatus, Referral
    from marac.orgs.models import Agency, Area

    made: dict[str, Account] = {}
    with live_server.app.app_context():
        area = db.session.scalars(select(Area).where(Area.name == AREA)).one()
        for key, role, agency_name in (
            ("coordinator", "coordinator", "Northvale Council MARAC Team"),
            ("chair", "chair", "Northvale Police"),
            ("rep", "agency_rep", "Northvale Homes"),
        ):
            agency = db.session.scalars(select(Agency).where(Agency.name == agency_name)).one()
            email = f"meeting-{key}@example.org"
            user, _ = create_user(
                None,
                email=email,
                display_name=f"Sam Meeting-{key.title()}",
                agency=agency,
                roles=[role],
                areas=[area],
                now=db.utcnow(),
                password=PASSWORD,
            )
            secret = pyotp.random_base32()
            user.must_change_password, user.totp_secret, user.mfa_enrolled_at = False, secret, db.utcnow()
            made[key] = Account(email=email, password=PASSWORD, totp_secret=secret, role=role, agency=agency_name)
        unreferred = db.session.scalars(
            select(Case)
            .where(Case.area_id == area.id, Case.status == CaseStatus.OPEN.value)
            .where(~select(Referral.id).where(Referral.case_id == Case.id).exists())
            .order_by(Case.referred_on.desc())
            .limit(CASES)
        ).all()
        for case in unreferred:
            db.session.add(Referral(case_id=case.id, step="check", decision="accepted", decided_at=db.utcnow()))
        db.session.commit()
    yield made
    SERVER_CLOCK.offset = timedelta(0)


def _as(browser: Browser, live_server: LiveServer, account: Account) -> Page:
    context = browser.new_context(
        base_url=live_server.url, locale="en-GB", timezone_id="Europe/London", accept_downloads=True
    )
    context.set_default_timeout(30_000)
    page = context.new_page()
    sign_in(page, account)
    return page


def _download(page: Page, link: str, tmp_path: Path) -> bytes:
    with page.expect_download() as info:
        page.get_by_role("link", name=link).click()
    target = tmp_path / info.value.suggested_filename
    info.value.save_as(target)
    return target.read_bytes()


def test_agenda_research_meeting_minutes_and_papers(
    browser: Browser,
    live_server: LiveServer,
    people: dict[str, Account],
    assert_accessible: Callable[[Page], None],
    tmp_path: Path,
) -> None:
    tomorrow = (SERVER_CLOCK().astimezone(LONDON) + timedelta(days=1)).date()
    coordinator = _as(browser, live_server, people["coordinator"])
    reference = _build_and_publish(coordinator, tomorrow, assert_accessible)

    rep = _as(browser, live_server, people["rep"])
    _complete_research(rep, assert_accessible)
    pack = _download(rep, "Your agency's research pack (PDF)", tmp_path)
    assert "Tenancy since 2023" in _text(pack)

    # The next day, half an hour into the meeting.
    starts = (
        SERVER_CLOCK()
        .astimezone(LONDON)
        .replace(year=tomorrow.year, month=tomorrow.month, day=tomorrow.day, hour=10, minute=30, second=0)
    )
    SERVER_CLOCK.offset = starts - SERVER_CLOCK() + SERVER_CLOCK.offset
    coordinator = _as(browser, live_server, people["coordinator"])
    _record(coordinator, reference, tomorrow, assert_accessible)

    chair = _as(browser, live_server, people["chair"])
    _sign_off(chair, reference)
    minutes = _download(chair, "Minutes and action plan (PDF)", tmp_path)
    agenda = _download(chair, "Agenda (PDF)", tmp_path)
    assert "Fit extra locks through the sanctuary scheme" in _text(minutes)
    assert "Page 1 of" in _text(agenda)
    assert reference in _text(agenda)
    for paper in (pack, minutes, agenda):
        pages = _text(paper).split("\f")[:-1]
        assert pages
        assert all(page.count("OFFICIAL-SENSITIVE") >= 2 for page in pages)


def _text(pdf: bytes) -> str:
    """The PDF's text, pages separated by form feeds (poppler's pdftotext)."""
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=pdf, capture_output=True, check=True)
    return done.stdout.decode()


def _build_and_publish(page: Page, day: date, assert_accessible: Callable[[Page], None]) -> str:
    page.get_by_role("link", name="Meetings", exact=True).click()
    page.get_by_role("link", name=f"Add a meeting in {AREA}").click()
    page.locator("#day-day").fill(str(day.day))
    page.locator("#day-month").fill(str(day.month))
    page.locator("#day-year").fill(str(day.year))
    page.locator("#start_time").fill("10:00")
    page.locator("#length_minutes").fill("150")
    page.get_by_role("button", name="Save").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("added")
    reference = page.locator("h1").inner_text().removeprefix("Meeting ").strip()
    page.get_by_role("link", name="Build the agenda").click()
    for _ in range(CASES):
        page.locator("#waiting").locator(
            "xpath=following::button[starts-with(normalize-space(.), 'Add')]"
        ).first.click()
        expect(page.locator(".govuk-notification-banner")).to_contain_text("added to the agenda")
    expect(page.locator("#capacity")).to_contain_text(f"{CASES} of 15 cases")
    assert_accessible(page)
    rows = page.locator("table").first.locator("tbody tr")
    first = rows.first.locator("td").nth(1).inner_text().split()[0]
    rows.first.get_by_role("button", name=re.compile("^Down")).click()  # ordering works without JavaScript
    expect(page.locator("table").first.locator("tbody tr").nth(1)).to_contain_text(first)
    page.get_by_role("button", name="Publish the agenda").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("Agenda published")
    return reference


def _complete_research(page: Page, assert_accessible: Callable[[Page], None]) -> None:
    expect(page.locator("#research-due")).to_contain_text(f"{CASES} cases for the meeting on")
    page.locator("#research-due a").first.click()
    for number in range(CASES):
        page.get_by_role("link", name=re.compile("^Give research")).first.click()
        if number == 0:
            page.get_by_label("Facts held").fill("Tenancy since 2023; two reports of damage to the front door.")
            page.get_by_label("Professional opinion").fill("Visits by the ex-partner are increasing.")
            assert_accessible(page)
        else:
            page.get_by_label("My agency holds nothing on the people in this case").check()
        page.get_by_role("button", name="Save research").click()
    expect(page.get_by_role("link", name=re.compile("^Give research"))).to_have_count(0)
    page.get_by_role("link", name="Back to research").click()
    page.goto(page.url)  # the list, answered
    page.get_by_role("link", name="Meetings", exact=True).click()
    page.locator("#upcoming a").first.click()


def _record(page: Page, reference: str, day: date, assert_accessible: Callable[[Page], None]) -> None:
    page.get_by_role("link", name="Meetings", exact=True).click()
    page.get_by_role("link", name=reference).click()
    page.get_by_role("link", name="Record the meeting").click()
    agencies = page.locator("#attendance-table tbody th").all_inner_texts()
    for number, agency in enumerate(agencies):
        if number == 1:  # one agency sent apologies, and its information beforehand
            page.get_by_label(f"Apologies: {agency}", exact=True).check()
            page.get_by_label(f"For apologies: did {agency} send its information?").select_option("yes")
        else:
            page.get_by_label(f"Present: {agency}", exact=True).check()
            page.get_by_label(f"Who attended for {agency}").fill("MARAC representative")
    page.get_by_role("button", name="Save attendance").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text(f"Attendance saved for {len(agencies)}")
    cards = page.locator(".govuk-summary-card")
    expect(cards).to_have_count(CASES)
    for number in range(CASES):
        card = page.locator(".govuk-summary-card").nth(number)
        card.get_by_label("Risks identified").fill("Escalating threats since separation.")
        card.get_by_label("Minutes of the discussion").fill("Each agency shared what it holds; actions agreed.")
        card.get_by_role("button", name="Save the discussion").click()
    card = page.locator(".govuk-summary-card").first
    card.get_by_text("Add an action").click()
    card.get_by_label("Owning agency").select_option(label="Northvale Homes")
    card.get_by_label("Action", exact=True).fill("Fit extra locks through the sanctuary scheme")
    due = day + timedelta(days=14)
    card.locator("input[id$='due_on-day']").fill(str(due.day))
    card.locator("input[id$='due_on-month']").fill(str(due.month))
    card.locator("input[id$='due_on-year']").fill(str(due.year))
    card.get_by_role("button", name="Add action").click()
    expect(page.locator(".agreed-actions").first).to_contain_text("Fit extra locks through the sanctuary scheme")
    assert_accessible(page)


def _sign_off(page: Page, reference: str) -> None:
    page.get_by_role("link", name="Meetings", exact=True).click()
    page.get_by_role("link", name=reference).click()
    page.get_by_role("link", name="Sign off the minutes").click()
    page.get_by_label("I have read these minutes and the action plan and they are a true record").check()
    page.get_by_role("button", name="Sign off the minutes").click()
    expect(page.locator(".govuk-notification-banner")).to_contain_text("signed")
    page.get_by_role("link", name="Meetings", exact=True).click()
    page.get_by_role("link", name=reference).click()
