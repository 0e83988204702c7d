"""Cases, persons, matching and the DPO's pages in chromium, checked with axe (WCAG 2.2 AA)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marac import db
from marac.access import acting_offline, visible_cases_clause
from marac.auth.models import User
from marac.cases.models import Case
from tests.browser.conftest import LiveServer, sign_in

pytestmark = pytest.mark.browser

Check = Callable[[Page], None]


def test_idva_opens_a_case_sees_people_and_flags_and_changes_details(
    page: Page, live_server: LiveServer, assert_accessible: Check
) -> None:
    sign_in(page, live_server.account("idva"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Cases").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Cases")
    rows = page.locator("table.govuk-table tbody tr")
    expect(rows.first).to_be_visible()
    assert_accessible(page)

    rows.first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Case MC-\d{2}-[0-9A-Z]{6}$"))
    expect(page.get_by_role("heading", name="People")).to_be_visible()
    expect(page.locator(".govuk-summary-card").first).to_contain_text("Victim:")
    assert_accessible(page)

    page.get_by_role("link", name=re.compile(r"^View person victim")).click()
    expect(page.get_by_text("Date of birth")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Change details").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Change details")
    assert_accessible(page)


def test_supervisor_opens_a_case_with_errors_then_checks_for_matches(
    page: Page, live_server: LiveServer, assert_accessible: Check
) -> None:
    sign_in(page, live_server.account("supervisor"))
    page.goto("/cases/new")
    expect(page.get_by_role("heading", level=1)).to_have_text("Open a case")
    assert_accessible(page)

    page.get_by_role("button", name="Open case").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Select the MARAC area")
    expect(summary).to_contain_text("Enter the date of referral")
    expect(summary).to_contain_text("Enter a given name or a family name")
    assert_accessible(page)

    page.get_by_label("MARAC area").select_option(index=1)
    page.locator("#referred_on-day").fill("2")
    page.locator("#referred_on-month").fill("11")
    page.locator("#referred_on-year").fill("2026")
    page.get_by_label("Given names").fill("Bethany")
    page.get_by_label("Family name").fill("Quilliam")
    page.locator("#date_of_birth-day").fill("14")
    page.locator("#date_of_birth-month").fill("2")
    page.locator("#date_of_birth-year").fill("1991")
    page.get_by_label("Phone numbers").fill("07700 900 418")
    page.get_by_label("Postcode").fill("NV1 4QT")
    page.get_by_role("button", name="Open case").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Is Bethany Quilliam already known?")
    assert_accessible(page)
    page.get_by_role("link", name="Continue").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Case MC-"))


def test_referrer_finds_a_person_across_agencies_by_name(
    page: Page, live_server: LiveServer, assert_accessible: Check
) -> None:
    account = live_server.account("referrer")
    with live_server.app.app_context():
        user = db.session.scalars(select(User).where(User.email == account.email)).one()
        with acting_offline([user]):
            case = db.session.scalars(select(Case).where(visible_cases_clause(user)).limit(1)).one()
        given, family = str(case.victim.given_name), str(case.victim.family_name)
        db.session.rollback()

    sign_in(page, account)
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Find a person").click()
    assert_accessible(page)
    page.get_by_label("Given name").fill(given)
    page.get_by_label("Family name").fill(family)
    page.get_by_role("button", name="Search").click()
    results = page.locator("table.govuk-table")
    expect(results).to_contain_text(f"{given} {family}")
    expect(results).to_contain_text("Same name")
    assert given not in page.url  # terms never reach the address bar
    assert family not in page.url
    assert_accessible(page)


def test_dpo_sees_disclosures_and_reviews_emergency_access(
    page: Page, live_server: LiveServer, assert_accessible: Check
) -> None:
    sign_in(page, live_server.account("dpo"))
    expect(page.get_by_text(re.compile(r"\d+ awaiting review"))).to_be_visible()
    page.get_by_role("link", name="See disclosures between agencies").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Disclosures")
    assert_accessible(page)
    page.locator("table.govuk-table tbody tr").first.get_by_role("link").click()
    expect(page.get_by_text("Article 6 basis").first).to_be_visible()
    assert_accessible(page)

    page.goto("/dpo/break-glass")
    expect(page.get_by_role("heading", level=1)).to_have_text("Emergency access uses")
    assert_accessible(page)
    page.get_by_role("link", name=re.compile(r"^Review")).first.click()
    expect(page.get_by_text("Reason given")).to_be_visible()
    assert_accessible(page)
