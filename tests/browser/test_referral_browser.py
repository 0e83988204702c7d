"""A referral walked in chromium from the police referrer to the supervisor's sign-off to the coordinator's decision
and IDVA allocation, with axe (WCAG 2.2 AA) on every page of the journey."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from marac import db
from marac.auth.models import User
from marac.cases.models import Case
from tests.browser.conftest import LiveServer, sign_in

pytestmark = pytest.mark.browser

Check = Callable[[Page], None]
AREA = "Northvale North MARAC"


def sign_out(page: Page) -> None:
    """Sign out from the header."""
    page.get_by_role("button", name="Sign out").click()


def start_referral(page: Page, check: Check) -> str:
    """The referrer starts a referral for a new victim; returns the task list's address."""
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Referrals").click()
    check(page)
    page.get_by_role("link", name="Start a referral").click()
    page.get_by_label("MARAC area").select_option(label=AREA)
    page.get_by_label("Given names").fill("Imogen")
    page.get_by_label("Family name").fill("Trelawney")
    page.locator("#date_of_birth-day").fill("9")
    page.locator("#date_of_birth-month").fill("5")
    page.locator("#date_of_birth-year").fill("1993")
    page.get_by_label("Phone numbers").fill("07700 900 731")
    page.get_by_label("Postcode").fill("NV2 7LP")
    check(page)
    page.get_by_role("button", name="Start referral").click()
    expect(page.locator(".govuk-task-list")).to_be_visible()
    check(page)
    return page.url


def add_perpetrator(page: Page, task_list: str, check: Check) -> None:
    """Through the existing add-a-person page, then back to the task list."""
    page.get_by_role("link", name="Perpetrators and children").click()
    page.locator("input[name=role][value=perpetrator]").check()
    page.get_by_label("Relationship to the victim").select_option("ex_partner")
    page.get_by_label("Given names").fill("Lucian")
    page.get_by_label("Family name").fill("Penrose")
    check(page)
    page.get_by_role("button", name="Add person").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"already known\?$"))
    page.goto(task_list)
    expect(page.locator("#parties")).to_contain_text("Lucian Penrose")


def assess(page: Page, check: Check) -> None:
    """Save part of the checklist, come back, then complete it with 15 "yes" answers."""
    page.get_by_role("link", name="Risk assessment (DASH)").click()
    radios = page.locator("input[type=radio][value=yes]")
    expect(radios.first).to_be_visible()
    check(page)
    radios.nth(0).check()
    page.get_by_role("button", name="Save and come back later").click()
    expect(page.locator("input[type=radio][value=yes]").first).to_be_checked()
    names = page.locator("input[type=radio][value=yes]").evaluate_all("els => els.map(e => e.name)")
    for number, name in enumerate(names):
        page.locator(f"input[name={name}][value={'yes' if number < 15 else 'no'}]").check()
    page.get_by_role("button", name="Complete assessment").click()
    expect(page.locator(".govuk-task-list")).to_contain_text("Score 15")


def details_and_submit(page: Page, check: Check) -> None:
    """Consent and safe contact, then check answers and submit for sign-off."""
    page.get_by_role("link", name="Consent, contact and other details").click()
    page.locator("input[name=consent][value=given]").check()
    page.locator("input[name=is_safe_to_call][value=yes]").check()
    page.get_by_label("Safe contact arrangements").fill("Her mobile, weekdays after 5pm only")
    check(page)
    page.get_by_role("button", name="Save and continue").click()
    page.get_by_role("link", name="Check answers and submit").click()
    expect(page.get_by_text(re.compile(r"visible high risk", re.IGNORECASE)).first).to_be_visible()
    check(page)
    page.get_by_role("button", name="Submit for sign-off").click()
    expect(page.locator(".govuk-notification-banner--success")).to_be_visible()


def test_a_referral_goes_from_police_to_supervisor_to_coordinator_and_an_idva(
    page: Page, live_server: LiveServer, assert_accessible: Check
) -> None:
    sign_in(page, live_server.account("referrer"))
    task_list = start_referral(page, assert_accessible)
    add_perpetrator(page, task_list, assert_accessible)
    assess(page, assert_accessible)
    details_and_submit(page, assert_accessible)
    sign_out(page)
    with live_server.app.app_context():
        reference = db.session.scalars(select(Case.reference).order_by(Case.id.desc()).limit(1)).one()
        db.session.rollback()

    sign_in(page, live_server.account("supervisor"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Sign off").click()
    assert_accessible(page)
    page.locator("tr", has_text=reference).get_by_role("link").first.click()
    expect(page.get_by_text("Imogen Trelawney").first).to_be_visible()
    assert_accessible(page)
    page.locator("input[name=decision][value=sign_off]").check()
    page.get_by_role("button", name="Continue").click()
    expect(page.locator(".govuk-notification-banner--success")).to_be_visible()
    sign_out(page)

    sign_in(page, live_server.account("coordinator"))
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Queue").click()
    assert_accessible(page)
    page.locator("tr", has_text=reference).get_by_role("link").first.click()
    expect(page.get_by_text("Imogen Trelawney").first).to_be_visible()
    assert_accessible(page)
    page.locator("input[name=decision][value=accepted]").check()
    idva_select = page.get_by_label("IDVA to allocate")
    option = idva_select.locator("option", has_text=re.compile(r"open case")).first
    idva_select.select_option(value=option.get_attribute("value"))
    page.get_by_role("button", name="Record decision").click()
    expect(page.locator(".govuk-notification-banner--success")).to_be_visible()
    assert_accessible(page)

    with live_server.app.app_context():
        case = db.session.scalars(select(Case).where(Case.reference == reference)).one()
        allocated = db.session.get(User, case.assigned_idva_id) if case.assigned_idva_id else None
        assert case.status == "open"
        assert allocated is not None
        assert "idva" in [r.role for r in allocated.roles]
        db.session.rollback()
